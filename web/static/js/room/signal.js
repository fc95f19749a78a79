/* Concord room: the signalling client for protocol concord.v1 (docs/protocol.md).
 *
 * One WebSocket. Requests carry an increasing integer id and get exactly one
 * response with the same id; each request is a promise that settles with
 * that response, or fails after a timeout or when the socket closes.
 * Notifications (no id) go to handlers registered by type.
 *
 * This file only talks; deciding when to reconnect is room.js's business,
 * helped by the two pure functions exported here (isFinalClose, backoffDelay).
 *
 * Exports on window.ConcordRoom: SignalClient, SignalError, PROTOCOL,
 * FINAL_CLOSE_CODES, isFinalClose, backoffDelay.
 */
(function () {
  "use strict";

  const NS = (window.ConcordRoom = window.ConcordRoom || {});

  const PROTOCOL = "concord.v1";
  const DEFAULT_TIMEOUT_MS = 10000;
  // A socket that neither opens nor fails (a phone between networks) is given up on.
  const CONNECT_TIMEOUT_MS = 10000;

  /* Close codes after which reconnecting would be wrong: the server (or we) decided.
   * 1008 means the credential stopped working (a revoked link); 4004 means the
   * same person joined from another tab or device, and fighting it back would
   * make the two pages replace each other for ever; 4007 means the staff account
   * logged out, changed its password or was changed by an administrator, and a
   * page that let itself back in would keep powers its person no longer has. */
  const FINAL_CLOSE_CODES = {
    1008: "credential",
    4001: "removed",
    4002: "ended",
    4004: "replaced",
    4005: "declined",
    4006: "left",
    4007: "signed_out",
  };

  function isFinalClose(code) {
    return Object.prototype.hasOwnProperty.call(FINAL_CLOSE_CODES, code);
  }

  /* Seconds to wait before reconnect attempt number `attempt` (0-based): 1, 2, 4, 8, then 10.
   * A little jitter keeps a whole room from reconnecting in the same instant
   * after a server restart (close code 1001). */
  const BACKOFF_SECONDS = [1, 2, 4, 8, 10];
  function backoffDelay(attempt, random) {
    const index = Math.min(Math.max(attempt, 0), BACKOFF_SECONDS.length - 1);
    const jitter = (random === undefined ? Math.random() : random) * 300;
    return BACKOFF_SECONDS[index] * 1000 + Math.round(jitter);
  }

  class SignalError extends Error {
    constructor(code, message, fields) {
      super(message || code);
      this.name = "SignalError";
      // Server codes (not_allowed, conflict ...) or ours: timeout, disconnected, connect_failed.
      this.code = code;
      // The fields at fault, field name → words for people (the server's error.fields).
      this.fields = fields || {};
    }

    /* Whether the server answered (a refusal), as opposed to the request getting lost. */
    get fromServer() {
      return ["timeout", "disconnected", "connect_failed", "bad_protocol"].indexOf(this.code) < 0;
    }
  }

  class SignalClient {
    constructor(url, options) {
      this.url = url;
      this.timeoutMs = (options && options.timeoutMs) || DEFAULT_TIMEOUT_MS;
      this.ws = null;
      this.nextId = 1; // never reused on this page, even across reconnections
      this.pending = new Map();
      this.handlers = new Map();
      // Called with the CloseEvent when an open socket closes (not for failed connects).
      this.onclose = null;
    }

    get connected() {
      return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
    }

    /* Open the socket; resolves once it is open, rejects if it never opens. */
    connect() {
      this.disconnect();
      return new Promise((resolve, reject) => {
        let ws;
        try {
          ws = new WebSocket(this.url, PROTOCOL);
        } catch (error) {
          reject(new SignalError("connect_failed", String(error)));
          return;
        }
        this.ws = ws;
        let opened = false;
        const timer = setTimeout(() => {
          if (!opened) {
            ws.close();
            reject(new SignalError("connect_failed", "timeout"));
          }
        }, CONNECT_TIMEOUT_MS);
        ws.onopen = () => {
          clearTimeout(timer);
          if (ws.protocol !== PROTOCOL) {
            // The server always answers with the subprotocol; anything else is not Concord.
            ws.close();
            reject(new SignalError("bad_protocol", ws.protocol));
            return;
          }
          opened = true;
          resolve();
        };
        ws.onmessage = (event) => {
          if (this.ws === ws) {
            this._receive(event.data);
          }
        };
        ws.onerror = () => {
          /* a close event always follows; handled there */
        };
        ws.onclose = (event) => {
          clearTimeout(timer);
          if (this.ws !== ws) {
            return; // an old socket we already let go of
          }
          this.ws = null;
          this._failPending("disconnected");
          if (!opened) {
            reject(new SignalError("connect_failed", String(event.code)));
          } else if (this.onclose) {
            this.onclose(event);
          }
        };
      });
    }

    /* Whether a new socket to the same address opens within timeoutMs; it is closed at
     * once, this client's own socket untouched. Tells a dead socket (its address went
     * away, the network works) from a network that is down (nothing opens). */
    canOpen(timeoutMs) {
      return new Promise((resolve) => {
        let ws;
        try {
          ws = new WebSocket(this.url, PROTOCOL);
        } catch (error) {
          resolve(false);
          return;
        }
        const done = (opened) => {
          clearTimeout(timer);
          ws.onopen = null;
          ws.onclose = null;
          try {
            ws.close(1000);
          } catch (error) {
            /* already closing */
          }
          resolve(opened);
        };
        const timer = setTimeout(() => done(false), timeoutMs);
        ws.onopen = () => done(true);
        ws.onclose = () => done(false);
      });
    }

    /* Drop the socket without reporting a close: used before reconnecting and at the end. */
    disconnect(code) {
      const ws = this.ws;
      this.ws = null;
      this._failPending("disconnected");
      if (ws !== null && ws.readyState <= WebSocket.OPEN) {
        try {
          ws.close(code || 1000);
        } catch (error) {
          /* already closing */
        }
      }
    }

    /* Send a request; resolves with the response's data, rejects with a SignalError. */
    request(type, fields, timeoutMs) {
      const id = this.nextId;
      this.nextId += 1;
      const message = Object.assign({}, fields || {}, { type: type, id: id });
      return new Promise((resolve, reject) => {
        if (!this.connected) {
          reject(new SignalError("disconnected"));
          return;
        }
        const timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new SignalError("timeout", type));
        }, timeoutMs || this.timeoutMs);
        this.pending.set(id, { resolve: resolve, reject: reject, timer: timer, type: type });
        try {
          this.ws.send(JSON.stringify(message));
        } catch (error) {
          clearTimeout(timer);
          this.pending.delete(id);
          reject(new SignalError("disconnected", String(error)));
        }
      });
    }

    /* Register a handler for a notification type; returns a function that removes it. */
    on(type, handler) {
      if (!this.handlers.has(type)) {
        this.handlers.set(type, []);
      }
      this.handlers.get(type).push(handler);
      return () => {
        const list = this.handlers.get(type) || [];
        const index = list.indexOf(handler);
        if (index >= 0) {
          list.splice(index, 1);
        }
      };
    }

    _receive(text) {
      let message;
      try {
        message = JSON.parse(text);
      } catch (error) {
        console.warn("concord: a frame that is not JSON", error);
        return;
      }
      if (message === null || typeof message !== "object") {
        return;
      }
      if (message.type === "response") {
        this._settle(message);
        return;
      }
      const list = this.handlers.get(message.type);
      if (!list || list.length === 0) {
        return; // a newer server's notification this page does not know: ignore it
      }
      list.slice().forEach((handler) => {
        try {
          handler(message);
        } catch (error) {
          console.error("concord: handler for " + message.type + " failed", error);
        }
      });
    }

    _settle(message) {
      const entry = typeof message.id === "number" ? this.pending.get(message.id) : undefined;
      if (entry === undefined) {
        // id null: the server could not read a frame of ours. Late answers after a timeout too.
        if (message.ok === false && message.error) {
          console.warn("concord: unmatched error response", message.error);
        }
        return;
      }
      this.pending.delete(message.id);
      clearTimeout(entry.timer);
      if (message.ok) {
        entry.resolve(message.data || {});
      } else {
        const error = message.error || {};
        entry.reject(new SignalError(error.code || "internal_error", error.message || "", error.fields));
      }
    }

    _failPending(code) {
      const entries = Array.from(this.pending.values());
      this.pending.clear();
      entries.forEach((entry) => {
        clearTimeout(entry.timer);
        entry.reject(new SignalError(code, entry.type));
      });
    }
  }

  NS.PROTOCOL = PROTOCOL;
  NS.FINAL_CLOSE_CODES = FINAL_CLOSE_CODES;
  NS.isFinalClose = isFinalClose;
  NS.backoffDelay = backoffDelay;
  NS.SignalError = SignalError;
  NS.SignalClient = SignalClient;
})();
