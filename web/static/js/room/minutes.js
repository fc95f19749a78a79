/* Concord room: the 调解笔录 panel (docs/protocol.md, "The minutes").
 *
 * For those whose join said minutes.read (the presiding officer, the clerk and
 * the hosts). Writers (minutes.write) pick who is speaking and type: the entry
 * is created on the server as soon as typing starts (minutes_add; the server's
 * clock times it), then saved as it is typed (minutes_edit, debounced). Enter
 * or "Next entry" starts the next one. The list shows every entry in time
 * order with who said it and when; others' entries arrive as minutes_updated.
 *
 * Nothing typed is lost: every entry not yet acknowledged by the server (its
 * text, speaker, start time, id and version once known) is kept in
 * sessionStorage and sent again after a reconnect, a reload or a server
 * restart, after the list has been reloaded from minutes_list.
 *
 * Hooks for tests: #minutes-speaker, #minutes-text, #minutes-next,
 * #minutes-status[data-state=saved|saving|error], #minutes-list with
 * <li data-minutes-entry="<id>" data-version data-speaker> (data-minutes-pending
 * while not yet saved), #panel-minutes[data-signed-off].
 *
 * Exports on window.ConcordRoom: MinutesPanel.
 */
(function () {
  "use strict";

  const NS = (window.ConcordRoom = window.ConcordRoom || {});
  const ui = NS.ui;
  const el = ui.el;
  const L = ui.label;
  const byId = ui.byId;

  const SAVE_DELAY_MS = 700; // typing pauses this long: the text goes to the server
  const RETRY_MS = 3000; // a save that failed for the connection is tried again
  const MAX_TEXT = 2000;

  class MinutesPanel {
    /* request(type, fields) → Promise of the response data (rejects with a SignalError). */
    constructor(request, options) {
      this.request = request;
      this.lang = options.lang || "zh";
      this.storeKey = "concord.minutes." + (options.sessionId || "");
      this.access = { read: false, write: false, signed_off: false };
      this.entries = new Map(); // id → entry, the highest version seen
      this.deleted = new Set();
      this.speakers = [];
      this.current = null; // the draft in the text box (restored with the drafts)
      this.drafts = this._loadDrafts(); // entries being typed or not yet acknowledged
      this.loaded = false;
      this.selfId = "";
      this.retryTimer = null;
      this._wire();
    }

    /* Each join (first, after a reconnect, after a restart): what we may do, then everything. */
    async start(access, selfId) {
      this.selfId = selfId || this.selfId || "";
      this.access = {
        read: !!(access && access.read),
        write: !!(access && access.write),
        signed_off: !!(access && access.signed_off),
      };
      ui.show(byId("btn-minutes"), this.access.read);
      if (!this.access.read) {
        return;
      }
      await this.reload();
      this._resend();
    }

    async reload() {
      let data;
      try {
        data = await this.request("minutes_list", {});
      } catch (error) {
        this._status("error");
        return;
      }
      this.entries = new Map();
      (data.entries || []).forEach((entry) => this.entries.set(entry.id, entry));
      this.speakers = Array.isArray(data.speakers) ? data.speakers : [];
      this.access.signed_off = !!data.signed_off;
      this.access.write = this.access.write && !!data.can_write;
      this.loaded = true;
      this._renderSpeakers();
      this.render();
    }

    /* minutes_updated: keep the highest version of each entry; a deletion is final. */
    update(message) {
      if (message.deleted_id) {
        this.deleted.add(message.deleted_id);
        this.entries.delete(message.deleted_id);
      } else if (message.entry && !this.deleted.has(message.entry.id)) {
        const known = this.entries.get(message.entry.id);
        if (!known || known.version < message.entry.version) {
          this.entries.set(message.entry.id, message.entry);
        }
      }
      this.render();
    }

    stop() {
      clearTimeout(this.retryTimer);
      this.drafts.forEach((draft) => clearTimeout(draft.timer));
    }

    /* ---- typing ------------------------------------------------------------------------ */

    _wire() {
      const text = byId("minutes-text");
      if (!text) {
        return;
      }
      text.addEventListener("input", () => this._typed());
      text.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault(); // Enter ends the entry; Shift+Enter is a line break
          this.next();
        }
      });
      byId("minutes-next").addEventListener("click", () => this.next());
      byId("minutes-speaker").addEventListener("change", () => {
        const draft = this.current;
        if (draft) {
          draft.speaker_key = byId("minutes-speaker").value;
          draft.speakerDirty = true;
          this._schedule(draft, 0);
        }
      });
    }

    _typed() {
      if (!this.access.write) {
        return;
      }
      const box = byId("minutes-text");
      if (!this.current) {
        if (!box.value) {
          return;
        }
        const speaker = byId("minutes-speaker").value;
        if (!speaker) {
          ui.toast(L("minutes-pick-speaker"), null, { kind: "warn" });
          box.value = "";
          return;
        }
        this.current = {
          key: "d" + Date.now() + Math.random().toString(36).slice(2, 6),
          id: null,
          version: 0,
          speaker_key: speaker,
          text: "",
          sent: null,
          startedAt: new Date().toISOString(),
          inflight: false,
          speakerDirty: false,
          timer: null,
        };
        this.drafts.set(this.current.key, this.current);
      }
      this.current.text = box.value.slice(0, MAX_TEXT);
      this._saveDrafts();
      // The first keystroke creates the entry at once; later ones wait for a pause.
      this._schedule(this.current, this.current.id === null ? 0 : SAVE_DELAY_MS);
      this.render();
    }

    /* Enter / "Next entry": this entry is done (it keeps saving), the box is for the next. */
    next() {
      const draft = this.current;
      this.current = null;
      byId("minutes-text").value = "";
      if (draft) {
        this._schedule(draft, 0);
      }
      byId("minutes-text").focus();
      this.render();
    }

    _schedule(draft, delay) {
      clearTimeout(draft.timer);
      draft.timer = setTimeout(() => this._flush(draft), delay);
    }

    /* One request at a time per entry; what changed meanwhile goes in the next. */
    async _flush(draft) {
      if (draft.inflight || this.access.signed_off) {
        return;
      }
      const changed = draft.text !== draft.sent || draft.speakerDirty;
      if (draft.id !== null && !changed) {
        this._settle(draft);
        return;
      }
      draft.inflight = true;
      this._status("saving");
      const text = draft.text;
      const speakerDirty = draft.speakerDirty;
      try {
        let data;
        if (draft.id === null) {
          const fields = { speaker_key: draft.speaker_key, text: text };
          if (draft.resent) {
            fields.at = draft.startedAt; // sent again: it was said when typing started
          }
          data = await this.request("minutes_add", fields);
        } else {
          const fields = { entry_id: draft.id, base_version: draft.version, text: text };
          if (speakerDirty) {
            fields.speaker_key = draft.speaker_key;
          }
          data = await this.request("minutes_edit", fields);
        }
        draft.id = data.entry.id;
        draft.version = data.entry.version;
        draft.sent = text;
        if (speakerDirty) {
          draft.speakerDirty = false;
        }
        this.update({ entry: data.entry });
      } catch (error) {
        draft.inflight = false;
        this._failed(draft, error);
        return;
      }
      draft.inflight = false;
      this._saveDrafts();
      if (draft.text !== draft.sent || draft.speakerDirty) {
        this._schedule(draft, SAVE_DELAY_MS);
      } else {
        this._settle(draft);
      }
    }

    /* Saved as it stands: no longer kept aside, unless it is still being typed. */
    _settle(draft) {
      if (draft !== this.current) {
        this.drafts.delete(draft.key);
      }
      this._saveDrafts();
      this._status(this._unsaved() ? "saving" : "saved");
      this.render();
    }

    async _failed(draft, error) {
      const code = error && error.code;
      if (code === "minutes_conflict") {
        // Someone changed the entry meanwhile: go on from their version, with our words.
        await this.reload();
        const known = this.entries.get(draft.id);
        if (known) {
          draft.version = known.version;
          draft.sent = null;
          this._schedule(draft, 0);
        }
        return;
      }
      if (code === "minutes_signed_off") {
        this.access.signed_off = true;
        this.drafts.clear();
        this.current = null;
        this._saveDrafts();
        ui.toast(error.message, null, { kind: "warn" });
        this.render();
        return;
      }
      if (error && error.fromServer) {
        // Refused for what it says (too long, unknown speaker, a time the server
        // does not accept for a resent entry): tell, and stop retrying it.
        ui.toast(ui.failure(error), null, { kind: "warn" });
        if (draft.resent && draft.id === null && code === "validation_failed") {
          draft.resent = false; // the start time was refused: let the server time it now
          this._schedule(draft, 0);
          return;
        }
        this._status("error");
        return;
      }
      // The connection: keep it, and try again (the next join resends everything too).
      this._status("error");
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this._resend(), RETRY_MS);
    }

    /* After a (re)join: every entry not acknowledged goes again, from what the server has. */
    _resend() {
      if (!this.access.write) {
        return;
      }
      this.drafts.forEach((draft) => {
        draft.inflight = false;
        if (draft.id === null) {
          draft.resent = true;
          const landed = this._landed(draft);
          if (landed) {
            // Its minutes_add reached the server but the answer did not reach us: go on
            // from that entry instead of writing the statement twice.
            draft.id = landed.id;
            draft.version = landed.version;
            draft.sent = landed.text;
          }
        }
        if (draft.id !== null) {
          const known = this.entries.get(draft.id);
          if (!known && this.loaded) {
            this.drafts.delete(draft.key); // deleted meanwhile
            return;
          }
          if (known) {
            draft.version = known.version;
            draft.sent = known.text;
          }
        }
        this._schedule(draft, 0);
      });
      if (this.current && this.drafts.has(this.current.key)) {
        byId("minutes-text").value = this.current.text;
      }
      this._saveDrafts();
      this.render();
    }

    /* The entry a draft's unanswered minutes_add made, if it was made: our newest entry,
     * for the same speaker, whose words begin the draft's and no other draft holds. */
    _landed(draft) {
      if (!this.selfId) {
        return null;
      }
      const held = new Set();
      this.drafts.forEach((d) => {
        if (d.id !== null) {
          held.add(d.id);
        }
      });
      let newest = null;
      this.entries.forEach((entry) => {
        if (entry.author_key === this.selfId && (!newest || entry.id > newest.id)) {
          newest = entry;
        }
      });
      if (
        newest &&
        !held.has(newest.id) &&
        newest.speaker_key === draft.speaker_key &&
        newest.text !== "" &&
        draft.text.indexOf(newest.text) === 0 &&
        Date.parse(newest.at) >= Date.parse(draft.startedAt) - 60000
      ) {
        return newest;
      }
      return null;
    }

    _unsaved() {
      let any = false;
      this.drafts.forEach((draft) => {
        if (draft.id === null || draft.text !== draft.sent || draft.speakerDirty) {
          any = true;
        }
      });
      return any;
    }

    /* ---- keeping what is typed across reloads -------------------------------------------- */

    _loadDrafts() {
      const drafts = new Map();
      try {
        const stored = JSON.parse(window.sessionStorage.getItem(this.storeKey) || "[]");
        (Array.isArray(stored) ? stored : []).forEach((d) => {
          if (d && d.key && typeof d.text === "string" && d.speaker_key) {
            drafts.set(d.key, {
              key: d.key,
              id: d.id || null,
              version: d.version || 0,
              speaker_key: d.speaker_key,
              text: d.text,
              sent: null,
              startedAt: d.startedAt,
              inflight: false,
              speakerDirty: !!d.speakerDirty,
              timer: null,
              resent: true,
            });
            if (d.current) {
              this.current = drafts.get(d.key);
            }
          }
        });
      } catch (error) {
        /* storage refused or garbled: start empty */
      }
      return drafts;
    }

    _saveDrafts() {
      const out = [];
      this.drafts.forEach((d) => {
        out.push({
          key: d.key,
          id: d.id,
          version: d.version,
          speaker_key: d.speaker_key,
          text: d.text,
          startedAt: d.startedAt,
          speakerDirty: d.speakerDirty,
          current: d === this.current,
        });
      });
      try {
        window.sessionStorage.setItem(this.storeKey, JSON.stringify(out));
      } catch (error) {
        /* private mode without storage: the server copy is all there is */
      }
    }

    /* ---- drawing ------------------------------------------------------------------------- */

    _status(state) {
      const node = byId("minutes-status");
      if (node) {
        node.dataset.state = state;
        node.textContent = L("minutes-" + state);
      }
    }

    _renderSpeakers() {
      const select = byId("minutes-speaker");
      const chosen = select.value || (this.current && this.current.speaker_key) || "";
      ui.clear(select);
      select.appendChild(el("option", { value: "", text: L("minutes-speaker-choose") }));
      this.speakers.forEach((s) => {
        const role = L("role-" + s.role);
        select.appendChild(el("option", { value: s.key, text: s.name + "（" + role + "）" }));
      });
      if (this.speakers.some((s) => s.key === chosen)) {
        select.value = chosen;
      }
    }

    _speakerName(key) {
      const found = this.speakers.find((s) => s.key === key);
      return found ? found.name : "";
    }

    _time(iso) {
      const date = new Date(iso);
      if (Number.isNaN(date.getTime())) {
        return "";
      }
      return date.toLocaleTimeString(this.lang === "en" ? "en-GB" : "zh-CN", {
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
        hour12: false,
      });
    }

    render() {
      const panel = byId("panel-minutes");
      if (!panel) {
        return;
      }
      const writing = this.access.write && !this.access.signed_off;
      panel.dataset.signedOff = this.access.signed_off ? "true" : "false";
      ui.show(byId("minutes-form"), writing);
      ui.show(byId("minutes-signed-off"), this.access.signed_off);
      const rows = Array.from(this.entries.values());
      // What is typed here and not yet on the server reads as typed.
      const mine = new Map();
      this.drafts.forEach((d) => {
        if (d.id !== null) {
          mine.set(d.id, d);
        } else {
          rows.push({
            id: null,
            key: d.key,
            at: d.startedAt,
            speaker_key: d.speaker_key,
            speaker_name: this._speakerName(d.speaker_key),
            text: d.text,
            version: 0,
          });
        }
      });
      rows.sort((a, b) => {
        const ta = Date.parse(a.at);
        const tb = Date.parse(b.at);
        if (ta !== tb) {
          return ta - tb;
        }
        return (a.id === null ? Infinity : a.id) - (b.id === null ? Infinity : b.id);
      });
      const list = byId("minutes-list");
      ui.clear(list);
      rows.forEach((entry) => {
        const draft = entry.id !== null ? mine.get(entry.id) : null;
        const text = draft ? draft.text : entry.text;
        const pending = entry.id === null || (draft && draft.text !== draft.sent);
        const typing = this.current && (draft === this.current || entry.key === this.current.key);
        const item = el(
          "li",
          {
            className: "minutes-entry" + (typing ? " typing" : ""),
            dataset: {
              minutesEntry: entry.id === null ? "" : String(entry.id),
              version: String(entry.version),
              speaker: entry.speaker_key,
            },
          },
          [
            el("span", { className: "minutes-when", text: this._time(entry.at) }),
            el("strong", { className: "minutes-who", text: entry.speaker_name || "" }),
            el("span", { className: "minutes-said", text: text }),
          ]
        );
        if (pending) {
          item.dataset.minutesPending = "true";
        }
        if (writing && entry.id !== null && !typing) {
          item.appendChild(
            el("button", {
              type: "button",
              className: "link minutes-delete",
              dataset: { minutesDelete: String(entry.id) },
              text: L("minutes-delete"),
              onclick: () => this._delete(entry),
            })
          );
        }
        list.appendChild(item);
      });
      ui.show(byId("minutes-empty"), rows.length === 0);
      if (this.current) {
        byId("minutes-speaker").value = this.current.speaker_key;
      }
    }

    async _delete(entry) {
      if (!window.confirm(L("minutes-delete-confirm"))) {
        return;
      }
      try {
        await this.request("minutes_delete", { entry_id: entry.id, base_version: entry.version });
        this.update({ deleted_id: entry.id });
      } catch (error) {
        ui.toast(ui.failure(error), null, { kind: "warn" });
        if (error && error.code === "minutes_conflict") {
          this.reload();
        }
      }
    }
  }

  NS.MinutesPanel = MinutesPanel;
})();
