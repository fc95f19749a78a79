/* Concord room: the agreement panel (docs/protocol.md, "The agreement").
 *
 * Staff who draft (the join response's can_draft_agreement) get a form: the
 * agreement's own words, numbered terms (each may have a deadline of its own,
 * sent as content.term_deadlines beside content.terms); Save (a new version,
 * based on the version the form was loaded from: the server refuses a stale
 * base with "conflict"), Freeze (fixes the text; its SHA-256 is shown),
 * Unfreeze (with a reason) and the version history. Everyone else reads the
 * live text, and may have it read aloud (speech synthesis, zh-CN) - for
 * elderly parties who read small print badly.
 *
 * A signer gets signature_requested: a prompt, and a full-screen overlay with
 * the signing page in an <iframe> (/j/<token>/sign for invitees,
 * /agreements/drafts/<id>/sign for staff). That page posts
 * {type: "concord.signed"} to its parent when the person has answered; the
 * overlay closes, and the server's next agreement_updated shows the answer.
 *
 * What the drafter is typing is never overwritten by someone else's save:
 * the form is refilled from the server only while it holds no unsaved edits;
 * otherwise a notice offers to load the latest version.
 *
 * Exports on window.ConcordRoom: AgreementPanel.
 */
(function () {
  "use strict";

  const NS = (window.ConcordRoom = window.ConcordRoom || {});
  const ui = NS.ui;
  const el = ui.el;
  const L = ui.label;
  const byId = ui.byId;

  const MAX_TERMS = 30;
  // A request must fit in one frame of the socket (docs/protocol.md: 64 KiB), with room to spare.
  const MAX_SAVE_BYTES = 60 * 1024;
  // Short utterances: Chrome stops a long one after about fifteen seconds.
  const SPEAK_CHUNK = 120;
  const SPEAK_RATE = 0.85; // a little slower than usual, for elderly listeners

  // The form's inputs, by the DraftContent field they hold.
  const FIELDS = {
    facts: "ag-facts",
    disputed_matters: "ag-disputed",
    responsibility: "ag-responsibility",
    performance_manner: "ag-manner",
    performance_deadline: "ag-deadline",
    copies: "ag-copies",
    others_present: "ag-others",
  };
  // Fields shown for the people's track only (人民调解协议书).
  const PEOPLE_ONLY = ["ag-disputed-row", "ag-responsibility-row"];

  /* Text for speech: lines and sentences of at most SPEAK_CHUNK characters. */
  function speechChunks(text) {
    const chunks = [];
    text.split(/\n+/).forEach((line) => {
      const sentences = line.match(/[^。；！？!?;]+[。；！？!?;]?/g) || [];
      sentences.forEach((sentence) => {
        let rest = sentence.trim();
        while (rest.length > SPEAK_CHUNK) {
          chunks.push(rest.slice(0, SPEAK_CHUNK));
          rest = rest.slice(SPEAK_CHUNK);
        }
        if (rest) {
          chunks.push(rest);
        }
      });
    });
    return chunks;
  }

  function byteLength(text) {
    return new Blob([text]).size;
  }

  class AgreementPanel {
    /* send(type, fields) → Promise of the response data, failures already shown as a toast;
     * request(type, fields) → the same without the toast (for the failures handled here);
     * options: {entry: "invitee" | "staff", token: the invitee's link token, lang, onNews()}. */
    constructor(send, request, options) {
      this.send = send;
      this.request = request;
      this.options = options || {};
      this.editor = false;
      this.state = null; // the latest agreement_updated
      this.baseVersion = 0; // the version the form holds
      this.dirty = false; // the form holds edits not saved yet
      this.edits = 0; // counts edits, to notice typing during a save
      this.saving = false;
      this.unfreezing = false;
      this.pendingSign = null; // the latest signature_requested
      this.speaking = false;
      this.speech = window.speechSynthesis && window.SpeechSynthesisUtterance ? window.speechSynthesis : null;
      this._wire();
      this.render();
    }

    /* ---- from the server ------------------------------------------------------------ */

    /* Whether this participant drafts (from join); the server checks every request anyway. */
    setEditor(editor) {
      this.editor = !!editor;
      this.render();
    }

    update(message) {
      const previous = this.state;
      this.state = message;
      if (message.editable) {
        this.editor = true;
      }
      const changedElsewhere = previous !== null && message.version !== this.baseVersion;
      if (message.content && !this.saving) {
        if (!this.dirty) {
          this._fill(message);
        } else if (changedElsewhere) {
          ui.show(byId("ag-changed"), true);
        }
      }
      if (previous === null || previous.version !== message.version) {
        if (this.options.onNews) {
          this.options.onNews();
        }
        if (message.editable && byId("ag-history-box").open) {
          this.loadHistory(); // an open history shows the new version too
        }
      }
      if (message.your_signature !== "waiting") {
        ui.dismissToast("sign");
      }
      this.render();
    }

    /* signature_requested: a prompt that stays until answered or dismissed. */
    askToSign(message) {
      this.pendingSign = message;
      ui.toast(L("sign-asked"), [{ label: L("sign-open"), primary: true, onClick: () => this.openSigning() }], {
        sticky: true,
        key: "sign",
      });
      this.render();
    }

    /* The room ended (or we left): stop talking, close the signing page. */
    stop() {
      this.stopReading();
      this.closeSigning();
    }

    /* ---- drawing ---------------------------------------------------------------------- */

    render() {
      const s = this.state;
      const editing = this.editor && !!s && !!s.content;
      ui.show(byId("btn-agreement"), this.editor || s !== null);
      ui.show(byId("agreement-start-block"), this.editor && s === null);
      ui.show(byId("agreement-none"), !this.editor && s === null);
      ui.show(byId("agreement-body"), s !== null);
      ui.show(byId("agreement-form"), editing);
      if (s === null) {
        return;
      }
      const status = byId("agreement-status");
      status.textContent = L("status-" + s.status, { version: s.version });
      status.dataset.status = s.status;
      byId("ag-text").textContent = s.text || "";
      const sha = byId("ag-sha");
      sha.textContent = s.sha256 ? L("sha-line", { sha: s.sha256 }) : "";
      ui.show(sha, !!s.sha256);
      this._renderSigners(s);
      const waiting = s.status === "frozen" && s.your_signature === "waiting";
      ui.show(byId("agreement-sign-block"), waiting);
      ui.show(byId("ag-read"), !!this.speech && !this.speaking);
      ui.show(byId("ag-stop"), !!this.speech && this.speaking);
      if (editing) {
        this._renderForm(s);
      }
    }

    _renderSigners(s) {
      const list = byId("ag-signers");
      ui.clear(list);
      (s.signers || []).forEach((signer) => {
        list.appendChild(
          el("li", { dataset: { status: signer.status } }, [
            el("strong", { text: signer.name }),
            " ",
            el("span", { className: "muted", text: L("signer-" + signer.role) }),
            " ",
            el("span", { className: "badge signer-status", text: L("signer-status-" + signer.status) }),
          ])
        );
      });
      ui.show(byId("ag-signers-box"), (s.signers || []).length > 0);
    }

    _renderForm(s) {
      const drafting = s.status === "drafting";
      const people = s.track !== "police";
      PEOPLE_ONLY.forEach((id) => ui.show(byId(id), people));
      // A frozen text is read, not edited: the whole fieldset is disabled until unfrozen.
      byId("ag-fields").disabled = !drafting;
      ui.show(byId("ag-save"), drafting);
      ui.show(byId("ag-freeze"), drafting);
      ui.show(byId("ag-unfreeze"), s.status === "frozen" && !this.unfreezing);
      ui.show(byId("ag-unfreeze-form"), s.status === "frozen" && this.unfreezing);
      ui.show(byId("ag-term-add"), drafting && this._terms().length < MAX_TERMS);
      const problems = byId("ag-problems");
      ui.clear(problems);
      (drafting ? s.problems || [] : []).forEach((p) => {
        problems.appendChild(el("li", { dataset: { field: p.field }, text: p.message }));
      });
      this._markTermDeadlines(drafting ? s.problems || [] : []);
      ui.show(byId("ag-problems-box"), drafting && (s.problems || []).length > 0);
      ui.show(byId("ag-ready"), drafting && (s.problems || []).length === 0);
    }

    /* ---- the form --------------------------------------------------------------------- */

    _fill(s) {
      const content = s.content || {};
      Object.keys(FIELDS).forEach((name) => {
        const value = content[name];
        byId(FIELDS[name]).value = value === null || value === undefined ? "" : String(value);
      });
      const terms = Array.isArray(content.terms) ? content.terms : [];
      const own = Array.isArray(content.term_deadlines) ? content.term_deadlines : [];
      const list = byId("ag-terms");
      ui.clear(list);
      (terms.length ? terms : [""]).forEach((term, index) => this._addTerm(term, own[index]));
      this.baseVersion = s.version;
      this.dirty = false;
      this._markInvalid({});
      ui.show(byId("ag-changed"), false);
    }

    /* One term: its words, and below them a deadline of its own (optional) and Delete. */
    _addTerm(text, deadline) {
      const list = byId("ag-terms");
      const area = el("textarea", { rows: "2", maxlength: "1000", "aria-label": L("term-label") });
      area.value = text || "";
      const date = el("input", { type: "date", className: "term-deadline", "aria-label": L("term-deadline") });
      date.value = deadline || "";
      const remove = el("button", { type: "button", className: "link", text: L("term-remove") });
      remove.addEventListener("click", () => {
        item.remove();
        if (list.children.length === 0) {
          this._addTerm("");
        }
        this._edited();
        this.render();
      });
      const when = el("label", { className: "term-when" }, [el("span", { text: L("term-deadline") }), date]);
      const item = el("li", {}, [area, el("div", { className: "term-tools" }, [when, remove])]);
      list.appendChild(item);
      return area;
    }

    _terms() {
      return Array.from(byId("ag-terms").querySelectorAll("textarea")).map((area) => area.value);
    }

    /* The terms typed, each with its own deadline ("" for none), empty boxes left out. */
    _termRows() {
      return Array.from(byId("ag-terms").children)
        .map((item) => ({
          text: item.querySelector("textarea").value,
          deadline: item.querySelector("input.term-deadline").value,
        }))
        .filter((row) => row.text.trim() !== "");
    }

    _content() {
      const copies = byId("ag-copies").value.trim();
      const rows = this._termRows();
      return {
        facts: byId("ag-facts").value,
        disputed_matters: byId("ag-disputed").value,
        responsibility: byId("ag-responsibility").value,
        terms: rows.map((row) => row.text),
        term_deadlines: rows.map((row) => row.deadline || null),
        performance_manner: byId("ag-manner").value,
        performance_deadline: byId("ag-deadline").value || null,
        copies: copies === "" ? null : Number(copies),
        others_present: byId("ag-others").value,
      };
    }

    _edited() {
      this.dirty = true;
      this.edits += 1;
    }

    /* Mark the inputs the server named; fields: {name: message}. */
    _markInvalid(fields) {
      const box = byId("ag-field-errors");
      ui.clear(box);
      Object.keys(FIELDS)
        .concat(["terms"])
        .forEach((name) => {
          const node = name === "terms" ? byId("ag-terms") : byId(FIELDS[name]);
          const has = (key) => Object.prototype.hasOwnProperty.call(fields, key);
          node.classList.toggle("invalid", has(name) || (name === "terms" && has("term_deadlines")));
        });
      Object.keys(fields).forEach((name) => box.appendChild(el("li", { text: fields[name] })));
      ui.show(box, Object.keys(fields).length > 0);
    }

    /* Mark the deadline of each term a problem names ("term_deadlines.<n>", n the term's
     * number as printed, counted among the boxes that hold a term). */
    _markTermDeadlines(problems) {
      const filled = Array.from(byId("ag-terms").children).filter(
        (item) => item.querySelector("textarea").value.trim() !== ""
      );
      Array.from(byId("ag-terms").querySelectorAll("input.term-deadline")).forEach((input) =>
        input.classList.remove("invalid")
      );
      problems.forEach((problem) => {
        const match = /^term_deadlines\.(\d+)$/.exec(problem.field);
        const item = match ? filled[Number(match[1]) - 1] : null;
        if (item) {
          item.querySelector("input.term-deadline").classList.add("invalid");
        }
      });
    }

    /* Save; resolves true when saved. A conflict loads the latest version and says so. */
    async save() {
      if (!this.state || this.saving) {
        return false;
      }
      const fields = {
        base_version: this.baseVersion,
        content: this._content(),
      };
      if (byteLength(JSON.stringify(fields)) > MAX_SAVE_BYTES) {
        ui.toast(L("agreement-too-long"), null, { kind: "warn" });
        return false;
      }
      const edits = this.edits;
      this.saving = true;
      this._busy(true);
      let data = null;
      try {
        data = await this.request("save_agreement", fields);
      } catch (error) {
        this.saving = false;
        this._busy(false);
        this._refused(error);
        return false;
      }
      this.saving = false;
      this._busy(false);
      this.baseVersion = data.version;
      if (this.edits === edits) {
        this.dirty = false;
        if (this.state && this.state.version === data.version && this.state.content) {
          this._fill(this.state);
        }
      }
      this._markInvalid({});
      ui.toast(L("agreement-saved", { version: data.version }), null, { key: "agreement" });
      this.render();
      return true;
    }

    async freeze() {
      if (!this.state) {
        return;
      }
      if (this.dirty && !(await this.save())) {
        return;
      }
      this._busy(true);
      try {
        await this.request("freeze_agreement", { base_version: this.baseVersion });
        ui.toast(L("agreement-frozen"), null, { key: "agreement" });
      } catch (error) {
        this._refused(error);
      }
      this._busy(false);
    }

    async unfreeze() {
      const reason = byId("ag-unfreeze-reason").value.trim();
      if (reason.length < 2) {
        byId("ag-unfreeze-reason").classList.add("invalid");
        ui.toast(L("unfreeze-reason-needed"), null, { kind: "warn" });
        return;
      }
      this._busy(true);
      try {
        await this.request("unfreeze_agreement", { base_version: this.state.version, reason: reason });
        this.unfreezing = false;
        byId("ag-unfreeze-reason").value = "";
        byId("ag-unfreeze-reason").classList.remove("invalid");
      } catch (error) {
        this._refused(error);
      }
      this._busy(false);
      this.render();
    }

    /* A refused change: a conflict reloads the latest version; a gap marks its fields. */
    _refused(error) {
      if (error && error.code === "conflict" && this.state && this.state.content) {
        this.dirty = false;
        this._fill(this.state);
        ui.toast(L("agreement-conflict"), null, { kind: "warn", sticky: true, key: "agreement" });
        this.render();
        return;
      }
      if (error && error.fields && Object.keys(error.fields).length) {
        this._markInvalid(error.fields);
      }
      ui.toast(ui.failure(error), null, { kind: "warn", key: "agreement" });
    }

    _busy(busy) {
      ["ag-save", "ag-freeze", "ag-unfreeze-yes"].forEach((id) => {
        byId(id).disabled = busy;
      });
    }

    /* ---- history ------------------------------------------------------------------------ */

    async loadHistory() {
      const list = byId("ag-history");
      let data;
      try {
        data = await this.send("list_agreement_revisions", {});
      } catch (error) {
        return;
      }
      ui.clear(list);
      (data.revisions || []).forEach((revision) => {
        const when = NS.model.chatTime(revision.at, this.options.lang);
        const button = el("button", {
          type: "button",
          className: "link",
          text: L("revision-line", {
            number: revision.number,
            kind: L("revision-" + revision.kind),
            author: revision.author || "",
            time: when,
          }),
        });
        button.addEventListener("click", () => this.showRevision(revision.number));
        list.appendChild(
          el("li", {}, [button, revision.note ? el("p", { className: "hint", text: revision.note }) : null])
        );
      });
    }

    async showRevision(number) {
      let data;
      try {
        data = await this.send("show_agreement_revision", { number: number });
      } catch (error) {
        return;
      }
      byId("ag-revision-title").textContent = L("revision-title", { number: data.number });
      byId("ag-revision-text").textContent = data.text || "";
      ui.show(byId("ag-revision"), true);
    }

    /* ---- reading aloud ----------------------------------------------------------------- */

    read() {
      if (!this.speech || !this.state) {
        return;
      }
      this.speech.cancel();
      const voices = this.speech.getVoices ? this.speech.getVoices() : [];
      const voice =
        voices.find((v) => v.lang === "zh-CN") || voices.find((v) => /^zh/i.test(v.lang || "")) || null;
      const chunks = speechChunks(this.state.text || "");
      if (chunks.length === 0) {
        return;
      }
      chunks.forEach((chunk, index) => {
        const utterance = new window.SpeechSynthesisUtterance(chunk);
        utterance.lang = "zh-CN";
        utterance.rate = SPEAK_RATE;
        if (voice) {
          utterance.voice = voice;
        }
        if (index === chunks.length - 1) {
          utterance.onend = () => this._spoken();
        }
        utterance.onerror = () => this._spoken();
        this.speech.speak(utterance);
      });
      this.speaking = true;
      this.render();
    }

    stopReading() {
      if (this.speech) {
        this.speech.cancel();
      }
      this._spoken();
    }

    _spoken() {
      if (this.speaking) {
        this.speaking = false;
        this.render();
      }
    }

    /* ---- signing ------------------------------------------------------------------------ */

    signingUrl() {
      if (this.options.entry === "staff") {
        const draftId = this.state ? this.state.draft_id : this.pendingSign && this.pendingSign.draft_id;
        return draftId ? "/agreements/drafts/" + encodeURIComponent(draftId) + "/sign?embed=1" : "";
      }
      return this.options.token ? "/j/" + encodeURIComponent(this.options.token) + "/sign?embed=1" : "";
    }

    openSigning() {
      const url = this.signingUrl();
      if (!url) {
        return;
      }
      this.stopReading();
      ui.dismissToast("sign");
      byId("sign-frame").src = url;
      ui.show(byId("sign-overlay"), true);
      document.body.classList.add("overlay-open");
      byId("sign-close").focus();
    }

    closeSigning() {
      const overlay = byId("sign-overlay");
      if (overlay.hidden) {
        return;
      }
      ui.show(overlay, false);
      byId("sign-frame").src = "about:blank";
      document.body.classList.remove("overlay-open");
    }

    _onMessage(event) {
      // Only the signing page, from our own origin, may close the overlay.
      if (event.origin !== window.location.origin || event.source !== byId("sign-frame").contentWindow) {
        return;
      }
      if (event.data && event.data.type === "concord.signed") {
        this.closeSigning();
        ui.dismissToast("sign");
        ui.toast(L("sign-done"));
      }
    }

    /* ---- wiring ------------------------------------------------------------------------- */

    _wire() {
      byId("agreement-start").addEventListener("click", async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          await this.send("open_agreement", {});
        } catch (error) {
          /* shown by send() */
        }
        button.disabled = false;
      });
      const form = byId("agreement-form");
      form.addEventListener("input", (event) => {
        if (!event.target.closest("#ag-unfreeze-form")) {
          this._edited();
        }
      });
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.save();
      });
      byId("ag-term-add").addEventListener("click", () => {
        if (this._terms().length < MAX_TERMS) {
          this._addTerm("").focus();
          this._edited();
          this.render();
        }
      });
      byId("ag-freeze").addEventListener("click", () => this.freeze());
      byId("ag-unfreeze").addEventListener("click", () => {
        this.unfreezing = true;
        this.render();
        byId("ag-unfreeze-reason").focus();
      });
      byId("ag-unfreeze-no").addEventListener("click", () => {
        this.unfreezing = false;
        this.render();
      });
      byId("ag-unfreeze-yes").addEventListener("click", () => this.unfreeze());
      byId("ag-reload").addEventListener("click", () => {
        if (this.state && this.state.content) {
          this._fill(this.state);
          this.render();
        }
      });
      byId("ag-history-box").addEventListener("toggle", (event) => {
        if (event.currentTarget.open) {
          this.loadHistory();
        }
      });
      byId("ag-revision-close").addEventListener("click", () => ui.show(byId("ag-revision"), false));
      byId("ag-read").addEventListener("click", () => this.read());
      byId("ag-stop").addEventListener("click", () => this.stopReading());
      byId("agreement-sign-open").addEventListener("click", () => this.openSigning());
      byId("sign-close").addEventListener("click", () => this.closeSigning());
      window.addEventListener("message", (event) => this._onMessage(event));
    }
  }

  NS.AgreementPanel = AgreementPanel;
})();
