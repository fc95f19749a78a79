/* Concord room: the host panel (presiding officer and co-hosts).
 *
 * Drawn again from every room snapshot; what the host is in the middle of
 * (a removal being confirmed, people ticked for a private talk) is kept here
 * between snapshots so that an update from the server does not undo it.
 * The server enforces every permission; this panel only offers the buttons.
 *
 * Exports on window.ConcordRoom: HostPanel.
 */
(function () {
  "use strict";

  const NS = (window.ConcordRoom = window.ConcordRoom || {});
  const ui = NS.ui;
  const model = NS.model;
  const el = ui.el;
  const L = ui.label;

  class HostPanel {
    /* send(type, fields) → Promise of the response data; failures are already shown. */
    constructor(send) {
      this.send = send;
      this.room = null;
      this.selfId = "";
      this.removing = null; // {pid, revoke}
      this.chosen = new Set(); // ticked for a private talk
      this.editing = null; // caucus id whose members are being changed
      this.ending = false;
      this._wireStatic();
    }

    _wireStatic() {
      ui.byId("admit-experts").addEventListener("click", (event) =>
        this._act(event.currentTarget, "admit_all_experts", {})
      );
      ui.byId("lock-toggle").addEventListener("click", (event) => {
        const locked = !!(this.room && this.room.locked);
        this._act(event.currentTarget, "lock", { locked: !locked });
      });
      ui.byId("end-session").addEventListener("click", () => {
        this.ending = true;
        this._renderEnd();
      });
      ui.byId("end-no").addEventListener("click", () => {
        this.ending = false;
        this._renderEnd();
      });
      ui.byId("end-yes").addEventListener("click", (event) => {
        this._act(event.currentTarget, "end_session", {}).then(() => {
          this.ending = false;
        });
      });
      ui.byId("caucus-open").addEventListener("click", (event) => this._openCaucus(event.currentTarget));
      ui.byId("caucus-save").addEventListener("click", (event) => this._saveCaucus(event.currentTarget));
      ui.byId("caucus-edit-cancel").addEventListener("click", () => {
        this.editing = null;
        this.chosen.clear();
        this.render(this.room, this.selfId);
      });
      ui.byId("caucus-main").addEventListener("click", (event) =>
        this._act(event.currentTarget, "move_to", { caucus_id: null })
      );
      ui.byId("caucus-close-all").addEventListener("click", (event) =>
        this._act(event.currentTarget, "close_all_caucuses", {})
      );
    }

    /* Disable the button while the request is out, so a double tap does not send twice. */
    _act(button, type, fields) {
      if (button) {
        button.disabled = true;
      }
      const done = () => {
        if (button) {
          button.disabled = false;
        }
      };
      return this.send(type, fields).then(
        (data) => {
          done();
          return data;
        },
        () => {
          done();
          return null;
        }
      );
    }

    render(room, selfId) {
      this.room = room;
      this.selfId = selfId;
      const lobby = model.lobby(room);
      this._renderLobby(lobby);
      this._renderPeople(room);
      this._renderCaucuses(room);
      const lock = ui.byId("lock-toggle");
      const locked = !!(room && room.locked);
      lock.textContent = locked ? L("unlock") : L("lock");
      lock.setAttribute("aria-pressed", locked ? "true" : "false");
      this._renderEnd();
      return { lobbyCount: lobby.length };
    }

    _renderEnd() {
      ui.show(ui.byId("end-session"), !this.ending);
      ui.show(ui.byId("end-confirm"), this.ending);
    }

    _renderLobby(lobby) {
      const list = ui.byId("lobby-list");
      ui.clear(list);
      lobby.forEach((p) => {
        const message = p.knock_message
          ? el("p", { className: "knock", text: L("knock-message", { text: p.knock_message }) })
          : null;
        const admit = el("button", { type: "button", className: "primary", text: L("admit") });
        admit.addEventListener("click", () => this._act(admit, "admit", { participant_id: p.id }));
        const decline = el("button", { type: "button", text: L("decline") });
        decline.addEventListener("click", () => this._act(decline, "decline", { participant_id: p.id }));
        list.appendChild(
          el("li", { dataset: { participant: p.id } }, [
            el("div", { className: "who" }, [
              el("strong", { text: p.name }),
              " ",
              el("span", { className: "muted", text: model.roleLabel(p) }),
            ]),
            message,
            el("div", { className: "row" }, [admit, decline]),
          ])
        );
      });
      ui.show(ui.byId("lobby-empty"), lobby.length === 0);
      ui.show(ui.byId("admit-experts"), lobby.some((p) => p.role === "expert"));
    }

    _renderPeople(room) {
      const list = ui.byId("host-participants");
      ui.clear(list);
      model.admitted(room).forEach((p) => {
        if (p.id === this.selfId) {
          return;
        }
        const row = el("li", { dataset: { participant: p.id } }, [
          el("div", { className: "who" }, [
            el("strong", { text: p.name }),
            " ",
            el("span", { className: "muted", text: model.roleLabel(p) }),
          ]),
          el("p", { className: "flags", text: describe(room, p) }),
        ]);
        if (!model.isPresiding(p)) {
          // Nobody may mute, stop or remove the presiding officer (server/rooms/roles.py).
          row.appendChild(this._controls(p));
          if (this.removing && this.removing.pid === p.id) {
            row.appendChild(this._removeConfirm(p));
          }
        }
        list.appendChild(row);
      });
      if (this.removing && !model.find(room, this.removing.pid)) {
        this.removing = null;
      }
    }

    _controls(p) {
      const row = el("div", { className: "row" });
      const pid = p.id;
      const button = (text, type, fields) => {
        const b = el("button", { type: "button", text: text });
        b.addEventListener("click", () => this._act(b, type, fields));
        row.appendChild(b);
      };
      if (model.flags.hostMuted(p)) {
        button(L("ask-unmute"), "request_unmute", { participant_id: pid });
      } else {
        button(L("mute"), "mute", { participant_id: pid });
      }
      if (model.flags.videoStopped(p)) {
        button(L("allow-video"), "allow_video", { participant_id: pid });
      } else {
        button(L("stop-video"), "stop_video", { participant_id: pid });
      }
      const remove = el("button", { type: "button", className: "danger", text: L("remove") });
      remove.addEventListener("click", () => {
        this.removing = { pid: pid, revoke: false };
        this.render(this.room, this.selfId);
      });
      row.appendChild(remove);
      return row;
    }

    _removeConfirm(p) {
      const box = el("div", { className: "confirm" }, [
        el("p", { text: L("remove-confirm", { name: p.name }) }),
      ]);
      // Staff enter with their login, not a link: nothing to revoke.
      if (p.id.indexOf("inv-") === 0) {
        const check = el("input", { type: "checkbox", checked: !!this.removing.revoke });
        check.addEventListener("change", () => {
          this.removing.revoke = check.checked;
        });
        box.appendChild(el("label", { className: "check" }, [check, " " + L("revoke-link")]));
      }
      const yes = el("button", { type: "button", className: "danger", text: L("remove") });
      yes.addEventListener("click", () => {
        const revoke = !!this.removing.revoke;
        this._act(yes, "remove", { participant_id: p.id, revoke_link: revoke }).then((data) => {
          if (data !== null) {
            this.removing = null;
            this.render(this.room, this.selfId);
          }
        });
      });
      const no = el("button", { type: "button", text: L("cancel") });
      no.addEventListener("click", () => {
        this.removing = null;
        this.render(this.room, this.selfId);
      });
      box.appendChild(el("div", { className: "row" }, [yes, no]));
      return box;
    }

    _renderCaucuses(room) {
      const caucuses = model.caucuses(room);
      if (this.editing && !caucuses.some((c) => c.id === this.editing)) {
        this.editing = null;
      }
      // Who can be ticked: everyone admitted but this host (the server adds the opener).
      const choose = ui.byId("caucus-choose");
      ui.clear(choose);
      const candidates = model.admitted(room).filter((p) => p.id !== this.selfId);
      const present = new Set(candidates.map((p) => p.id));
      this.chosen.forEach((pid) => {
        if (!present.has(pid)) {
          this.chosen.delete(pid);
        }
      });
      candidates.forEach((p) => {
        const check = el("input", { type: "checkbox", value: p.id, checked: this.chosen.has(p.id) });
        check.addEventListener("change", () => {
          if (check.checked) {
            this.chosen.add(p.id);
          } else {
            this.chosen.delete(p.id);
          }
        });
        const where = model.caucusOf(room, p.id);
        choose.appendChild(
          el("li", {}, [
            el("label", { className: "check" }, [
              check,
              " " + p.name + " ",
              el("span", { className: "muted", text: model.roleLabel(p) }),
              where ? el("span", { className: "badge", text: model.caucusName(room, where) }) : null,
            ]),
          ])
        );
      });
      ui.show(ui.byId("caucus-open"), this.editing === null);
      ui.show(ui.byId("caucus-save"), this.editing !== null);
      ui.show(ui.byId("caucus-edit-cancel"), this.editing !== null);

      const list = ui.byId("caucus-list");
      ui.clear(list);
      const mine = model.caucusOf(room, this.selfId);
      caucuses.forEach((caucus) => {
        const names = model.membersOf(caucus).map((pid) => model.nameOf(room, pid));
        const props = { dataset: { caucus: caucus.id }, className: this.editing === caucus.id ? "editing" : "" };
        const row = el("li", props, [
          el("div", { className: "who" }, [el("strong", { text: model.caucusName(room, caucus) })]),
          el("p", { className: "muted", text: ui.joinNames(names) }),
        ]);
        const buttons = el("div", { className: "row" });
        if (mine && mine.id === caucus.id) {
          buttons.appendChild(el("span", { className: "badge", text: L("you-are-here") }));
        } else {
          const move = el("button", { type: "button", text: L("move-here") });
          move.addEventListener("click", () => this._act(move, "move_to", { caucus_id: caucus.id }));
          buttons.appendChild(move);
        }
        const edit = el("button", { type: "button", text: L("edit-members") });
        edit.addEventListener("click", () => {
          this.editing = caucus.id;
          this.chosen = new Set(model.membersOf(caucus).filter((pid) => pid !== this.selfId));
          this.render(this.room, this.selfId);
          ui.byId("caucus-choose").scrollIntoView({ block: "nearest" });
        });
        buttons.appendChild(edit);
        const close = el("button", { type: "button", text: L("close-caucus") });
        close.addEventListener("click", () => this._act(close, "close_caucus", { caucus_id: caucus.id }));
        buttons.appendChild(close);
        row.appendChild(buttons);
        list.appendChild(row);
      });
      ui.show(ui.byId("caucus-none"), caucuses.length === 0);
      ui.show(ui.byId("caucus-main"), mine !== null);
      ui.show(ui.byId("caucus-close-all"), caucuses.length > 0);
    }

    _openCaucus(button) {
      if (this.chosen.size === 0) {
        ui.toast(L("choose-someone"));
        return;
      }
      const name = ui.byId("caucus-name").value.trim();
      const fields = { participant_ids: Array.from(this.chosen) };
      if (name) {
        fields.name = name;
      }
      this._act(button, "open_caucus", fields).then((data) => {
        if (data !== null) {
          this.chosen.clear();
          ui.byId("caucus-name").value = "";
          this.render(this.room, this.selfId);
        }
      });
    }

    _saveCaucus(button) {
      if (this.chosen.size === 0) {
        ui.toast(L("choose-someone"));
        return;
      }
      const caucusId = this.editing;
      // Keep this host in a caucus they are in: unticking yourself is not offered.
      const members = Array.from(this.chosen);
      const current = model.caucuses(this.room).find((c) => c.id === caucusId);
      if (current && model.membersOf(current).indexOf(this.selfId) >= 0) {
        members.push(this.selfId);
      }
      this._act(button, "set_caucus", { caucus_id: caucusId, participant_ids: members }).then((data) => {
        if (data !== null) {
          this.editing = null;
          this.chosen.clear();
          this.render(this.room, this.selfId);
        }
      });
    }
  }

  /* One line about a participant's state: "muted · hand raised · connection lost". */
  function describe(room, p) {
    const parts = [];
    const f = model.flags;
    if (f.hostMuted(p)) {
      parts.push(L("flag-host-muted"));
    } else if (f.selfMuted(p)) {
      parts.push(L("flag-muted"));
    }
    if (f.unmuteAsked(p)) {
      parts.push(L("flag-unmute-asked"));
    }
    if (f.videoStopped(p)) {
      parts.push(L("flag-video-stopped"));
    } else if (f.selfVideoOff(p)) {
      parts.push(L("flag-video-off"));
    }
    if (f.audioOnly(p)) {
      parts.push(L("flag-audio-only"));
    }
    if (f.hand(p)) {
      parts.push(L("flag-hand"));
    }
    if (p.connected === false) {
      parts.push(L("flag-offline"));
    }
    const caucus = model.caucusOf(room, p.id);
    if (caucus) {
      parts.push(model.caucusName(room, caucus));
    }
    return parts.join(" · ");
  }

  NS.describe = describe;
  NS.HostPanel = HostPanel;
})();
