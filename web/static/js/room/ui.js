/* Concord room: small DOM helpers, the page's words, toasts, and reading the room snapshot.
 *
 * Every word shown comes from the page (<template id="labels">, translated on
 * the server); slots like {name} are filled here. Text is always set with
 * textContent, never as HTML: names and chat come from other people.
 *
 * Exports on window.ConcordRoom: ui (DOM and words), model (snapshot readers).
 */
(function () {
  "use strict";

  const NS = (window.ConcordRoom = window.ConcordRoom || {});

  /* ---- DOM ------------------------------------------------------------------------- */

  function byId(id) {
    return document.getElementById(id);
  }

  /* el("button", {type: "button", className: "x", dataset: {id: "inv-1"}, onclick: f}, ["text"]) */
  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.keys(props || {}).forEach((key) => {
      const value = props[key];
      if (value === undefined || value === null) {
        return;
      }
      if (key === "dataset") {
        Object.keys(value).forEach((name) => {
          node.dataset[name] = value[name];
        });
      } else if (key === "className") {
        node.className = value;
      } else if (key === "text") {
        node.textContent = value;
      } else if (key.indexOf("on") === 0 && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else if (typeof value === "boolean") {
        node[key] = value;
      } else {
        node.setAttribute(key, String(value));
      }
    });
    (children || []).forEach((child) => {
      if (child === null || child === undefined || child === false) {
        return;
      }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  function show(node, visible) {
    if (node) {
      node.hidden = !visible;
    }
  }

  /* ---- words ------------------------------------------------------------------------ */

  const words = new Map();
  (function readLabels() {
    const template = byId("labels");
    if (!template || !template.content) {
      return;
    }
    const nodes = template.content.querySelectorAll("[data-key]");
    for (let i = 0; i < nodes.length; i += 1) {
      // Labels are trimmed of the template's indentation, except those marked
      // data-raw whose spaces matter (the names separator ", ").
      const node = nodes[i];
      const text = node.hasAttribute("data-raw") ? node.textContent : node.textContent.trim();
      words.set(node.getAttribute("data-key"), text);
    }
  })();

  /* The page's word for `key`, with {slots} filled from `params`. */
  function label(key, params) {
    let text = words.has(key) ? words.get(key) : key;
    if (params) {
      text = text.replace(/\{(\w+)\}/g, (whole, name) =>
        Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole
      );
    }
    return text;
  }

  function joinNames(names) {
    return names.join(label("names-separator") || ", ");
  }

  /* ---- toasts ------------------------------------------------------------------------ */

  const TOAST_MS = 7000;

  /* A short notice at the top. actions: [{label, onClick}] (a click also dismisses it).
   * options.sticky keeps it until dismissed; options.key replaces an earlier toast with the same key. */
  function toast(text, actions, options) {
    const box = byId("toasts");
    const opts = options || {};
    if (opts.key) {
      const old = box.querySelector('[data-key="' + opts.key + '"]');
      if (old) {
        old.remove();
      }
    }
    const node = el("div", { className: "toast" + (opts.kind ? " " + opts.kind : ""), role: "status" });
    if (opts.key) {
      node.dataset.key = opts.key;
    }
    node.appendChild(el("p", { text: text }));
    const row = el("div", { className: "row" });
    let timer = null;
    const dismiss = () => {
      if (timer !== null) {
        clearTimeout(timer);
      }
      node.remove();
    };
    (actions || []).forEach((action) => {
      row.appendChild(
        el("button", {
          type: "button",
          className: action.primary ? "primary" : "",
          text: action.label,
          onclick: () => {
            dismiss();
            action.onClick();
          },
        })
      );
    });
    row.appendChild(
      el("button", { type: "button", className: "link", text: label("dismiss"), onclick: dismiss })
    );
    node.appendChild(row);
    box.appendChild(node);
    if (!opts.sticky) {
      timer = setTimeout(dismiss, opts.timeoutMs || TOAST_MS);
    }
    return dismiss;
  }

  /* Remove the toast shown with options.key, or every toast when key is omitted. */
  function dismissToast(key) {
    const box = byId("toasts");
    const nodes = key ? box.querySelectorAll('[data-key="' + key + '"]') : box.children;
    Array.from(nodes).forEach((node) => node.remove());
  }

  /* The words for a failed request: the server's own message when it sent one. */
  function failure(error) {
    if (error && error.fromServer && error.message) {
      return label("request-failed", { reason: error.message });
    }
    return label("request-lost");
  }

  /* ---- reading the room snapshot (docs/protocol.md, room_updated) ------------------- *
   * The field names are those of server/signaling/views.py; the protocol text
   * does not list them, so the readers also accept a few other spellings and
   * fall back quietly. Roles come as codes (host, party ...): the words are the page's. */

  const HOST_ROLES = ["host", "cohost"];

  function participants(room) {
    return (room && Array.isArray(room.participants) && room.participants) || [];
  }

  function find(room, pid) {
    return participants(room).find((p) => p.id === pid) || null;
  }

  /* Whether the viewer holds the host controls: the snapshot says so, else their own entry. */
  function youAreHost(room) {
    if (room && typeof room.you_are_host === "boolean") {
      return room.you_are_host;
    }
    return isHost(find(room, room && room.you));
  }

  /* The viewer's admission: lobby | admitted | ... (the lobby does not list itself). */
  function yourAdmission(room) {
    if (room && typeof room.admission === "string") {
      return room.admission;
    }
    const me = find(room, room && room.you);
    return me ? me.admission || "" : "";
  }

  function isHost(p) {
    if (!p) {
      return false;
    }
    if (typeof p.is_host === "boolean") {
      return p.is_host;
    }
    if (typeof p.host === "boolean") {
      return p.host;
    }
    return HOST_ROLES.indexOf(p.role) >= 0;
  }

  function isPresiding(p) {
    return !!p && (p.role === "host" || p.is_presiding === true);
  }

  function flag(p, names) {
    for (let i = 0; i < names.length; i += 1) {
      if (p && typeof p[names[i]] === "boolean") {
        return p[names[i]];
      }
    }
    return false;
  }

  const flags = {
    hostMuted: (p) => flag(p, ["audio_muted_by_host", "muted_by_host"]),
    videoStopped: (p) => flag(p, ["video_stopped_by_host", "video_stopped"]),
    selfMuted: (p) => flag(p, ["self_muted", "muted"]),
    selfVideoOff: (p) => flag(p, ["self_video_off", "video_off"]),
    hand: (p) => flag(p, ["hand_raised", "raised_hand"]),
    audioOnly: (p) => flag(p, ["audio_only"]),
    unmuteAsked: (p) => flag(p, ["unmute_requested"]),
  };

  function roleLabel(p) {
    if (!p) {
      return "";
    }
    if (p.role_label) {
      return p.role_label;
    }
    return words.has("role-" + p.role) ? label("role-" + p.role) : p.role || "";
  }

  function admitted(room) {
    return participants(room).filter((p) => (p.admission || "admitted") === "admitted");
  }

  function lobby(room) {
    return participants(room).filter((p) => p.admission === "lobby");
  }

  function caucuses(room) {
    return (room && Array.isArray(room.caucuses) && room.caucuses) || [];
  }

  function membersOf(caucus) {
    const members = caucus.members || caucus.participant_ids || caucus.participants || [];
    return members.map((m) => (typeof m === "string" ? m : m && m.id)).filter(Boolean);
  }

  /* The caucus `pid` is in, or null for the main room. The viewer's own is
   * room.your_caucus; hosts also get caucus_id on everyone; others read members. */
  function caucusOf(room, pid) {
    if (room && pid === room.you && room.your_caucus !== undefined) {
      return caucuses(room).find((c) => c.id === room.your_caucus) || null;
    }
    const p = find(room, pid);
    if (p && p.caucus_id !== undefined) {
      return caucuses(room).find((c) => c.id === p.caucus_id) || null;
    }
    return caucuses(room).find((c) => membersOf(c).indexOf(pid) >= 0) || null;
  }

  function caucusName(room, caucus) {
    if (caucus.name) {
      return caucus.name;
    }
    const index = caucuses(room).indexOf(caucus);
    return label("caucus-default", { number: index >= 0 ? index + 1 : caucus.id });
  }

  function nameOf(room, pid) {
    const p = find(room, pid);
    return p ? p.name : pid;
  }

  /* The private-talk notice's parts, or null. Accepts {host, with: [names or ids]}
   * and the spellings host_name / names / participants; a list of such; or a string. */
  function privateTalk(room) {
    const value = room ? room.private_talk : null;
    if (!value) {
      return null;
    }
    const list = Array.isArray(value) ? value : [value];
    const hosts = [];
    let names = [];
    list.forEach((item) => {
      if (typeof item === "string") {
        names.push(item);
        return;
      }
      const host = item.host_name || item.host || item.by || "";
      if (host && hosts.indexOf(host) < 0) {
        hosts.push(typeof host === "string" ? host : host.name || "");
      }
      const others = item.with || item.names || item.participants || [];
      names = names.concat(
        others.map((x) => {
          if (typeof x !== "string") {
            return (x && x.name) || "";
          }
          return find(room, x) ? nameOf(room, x) : x;
        })
      );
    });
    return { hosts: hosts.filter(Boolean), names: names.filter(Boolean) };
  }

  /* A chat line's time as HH:MM. `at` may be ISO text or epoch seconds/milliseconds. */
  function chatTime(at, lang) {
    let date = null;
    if (typeof at === "string") {
      date = new Date(at);
    } else if (typeof at === "number" && at > 1e12) {
      date = new Date(at);
    } else if (typeof at === "number" && at > 1e9) {
      date = new Date(at * 1000);
    }
    if (date === null || isNaN(date.getTime())) {
      return "";
    }
    try {
      return date.toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", {
        hour: "2-digit",
        minute: "2-digit",
      });
    } catch (error) {
      return date.toTimeString().slice(0, 5);
    }
  }

  NS.ui = {
    byId: byId,
    el: el,
    clear: clear,
    show: show,
    label: label,
    hasLabel: (key) => words.has(key),
    joinNames: joinNames,
    toast: toast,
    dismissToast: dismissToast,
    failure: failure,
  };
  NS.model = {
    participants: participants,
    find: find,
    isHost: isHost,
    youAreHost: youAreHost,
    yourAdmission: yourAdmission,
    isPresiding: isPresiding,
    flags: flags,
    roleLabel: roleLabel,
    admitted: admitted,
    lobby: lobby,
    caucuses: caucuses,
    membersOf: membersOf,
    caucusOf: caucusOf,
    caucusName: caucusName,
    nameOf: nameOf,
    privateTalk: privateTalk,
    chatTime: chatTime,
  };
})();
