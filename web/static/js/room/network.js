/* Concord room: how this person's network is doing, said on their screen.
 *
 * One notice, #network-notice[data-state]:
 *   "audio-only" the server stopped sending this person video because their link
 *                cannot carry it (the participant view's link_audio_only, set by
 *                server/rooms/link_quality.py); it comes back by itself;
 *   "weak"       this browser's own statistics show heavy loss or a long round trip
 *                on its connections: speech may break up, video may freeze;
 *   "ok"         nothing to say (the notice is hidden).
 *
 * The statistics are read every POLL_MS from the publisher's and the subscriber's
 * RTCPeerConnection.getStats(): the share of packets lost since the last reading
 * (inbound-rtp on what we receive, remote-inbound-rtp on what we send) and the
 * candidate pair's current round trip. Two weak readings in a row raise the notice;
 * three good ones lower it, so a single burst does not make it flicker.
 *
 * Exports on window.ConcordRoom: NetworkWatch, assessNetwork (pure, for tests).
 */
(function () {
  "use strict";

  const NS = (window.ConcordRoom = window.ConcordRoom || {});
  const ui = NS.ui;

  const POLL_MS = 2000;
  const WEAK_LOSS = 0.08; // lost share of packets in one interval
  const WEAK_RTT_S = 0.5;
  const RAISE_AFTER = 2;
  const LOWER_AFTER = 3;

  /* One reading from the counters now and the previous ones: {loss, rtt, weak}. */
  function assessNetwork(now, before) {
    const lost = Math.max(0, now.lost - (before ? before.lost : 0));
    const received = Math.max(0, now.received - (before ? before.received : 0));
    const total = lost + received;
    let loss = total > 20 ? lost / total : 0;
    if (typeof now.remoteFractionLost === "number") {
      loss = Math.max(loss, now.remoteFractionLost);
    }
    const rtt = typeof now.rtt === "number" ? now.rtt : 0;
    return { loss: loss, rtt: rtt, weak: loss > WEAK_LOSS || rtt > WEAK_RTT_S };
  }

  async function countersOf(pcs) {
    const counters = { lost: 0, received: 0, remoteFractionLost: null, rtt: null };
    for (const pc of pcs) {
      if (!pc || typeof pc.getStats !== "function" || pc.connectionState === "closed") {
        continue;
      }
      let report;
      try {
        report = await pc.getStats();
      } catch (error) {
        continue;
      }
      report.forEach((s) => {
        if (s.type === "inbound-rtp") {
          counters.lost += s.packetsLost || 0;
          counters.received += s.packetsReceived || 0;
        } else if (s.type === "remote-inbound-rtp" && typeof s.fractionLost === "number") {
          counters.remoteFractionLost = Math.max(counters.remoteFractionLost || 0, s.fractionLost);
        } else if (
          s.type === "candidate-pair" &&
          (s.nominated || s.selected) &&
          typeof s.currentRoundTripTime === "number"
        ) {
          counters.rtt = Math.max(counters.rtt || 0, s.currentRoundTripTime);
        }
      });
    }
    return counters;
  }

  class NetworkWatch {
    /* connections() → the RTCPeerConnections to read (nulls allowed). */
    constructor(connections) {
      this.connections = connections;
      this.notice = ui.byId("network-notice");
      this.linkAudioOnly = false;
      this.weak = false;
      this.streak = 0; // readings in a row that disagree with this.weak
      this.before = null;
      this.timer = null;
      this.last = null; // the last reading, for tests: {loss, rtt, weak}
    }

    start() {
      if (this.timer === null) {
        this.timer = setInterval(() => this.poll(), POLL_MS);
      }
    }

    stop() {
      if (this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
      this.before = null;
      this.weak = false;
      this.streak = 0;
      this.render();
    }

    setLinkAudioOnly(on) {
      if (this.linkAudioOnly !== on) {
        this.linkAudioOnly = on;
        this.render();
      }
    }

    async poll() {
      const now = await countersOf(this.connections());
      const reading = assessNetwork(now, this.before);
      this.before = now;
      this.last = reading;
      if (reading.weak !== this.weak) {
        this.streak += 1;
        if (this.streak >= (this.weak ? LOWER_AFTER : RAISE_AFTER)) {
          this.weak = reading.weak;
          this.streak = 0;
          this.render();
        }
      } else {
        this.streak = 0;
      }
    }

    render() {
      if (!this.notice) {
        return;
      }
      const state = this.linkAudioOnly ? "audio-only" : this.weak ? "weak" : "ok";
      this.notice.dataset.state = state;
      this.notice.textContent = state === "ok" ? "" : ui.label("network-" + state);
      this.notice.hidden = state === "ok";
    }
  }

  NS.NetworkWatch = NetworkWatch;
  NS.assessNetwork = assessNetwork;
})();
