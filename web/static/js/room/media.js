/* Concord room: camera and microphone, and the two peer connections (docs/room.md, "Media").
 *
 * Publisher: this browser offers one send-only audio and one send-only video
 * track; the server answers. Subscriber: only the server offers (one send-only
 * audio+video pair per other participant we may receive); this browser answers.
 * Both use bundlePolicy max-bundle, so ICE runs on the first m-section only.
 *
 * Negotiations are serialised per connection (a promise chain), so an ICE
 * restart never overlaps an offer still in flight.
 *
 * Video codec: the server forwards one codec per room, VP8 or H.264
 * (constrained baseline, packetization-mode=1) and never transcodes. The join
 * declares what this browser decodes (decodableVideoCodecs), the reply names
 * the room's codec, and both connections prefer it alone
 * (setCodecPreferences): the options' videoCodec, "VP8" or "H264".
 *
 * Exports on window.ConcordRoom: getLocalMedia, Publisher, Subscriber,
 * parseSections, connectionState, decodableVideoCodecs, VIDEO_MAX_BITRATE.
 */
(function () {
  "use strict";

  const NS = (window.ConcordRoom = window.ConcordRoom || {});

  // The server forwards frames as they are (no simulcast, no congestion control
  // towards subscribers), so the publisher's rate is what every phone receives.
  const VIDEO_MAX_BITRATE = 500000;
  const OFFER_TIMEOUT_MS = 15000;

  /* ---- camera and microphone -------------------------------------------------- */

  function constraints(video) {
    return {
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: video
        ? {
            facingMode: "user",
            width: { ideal: 640 },
            height: { ideal: 360 },
            frameRate: { ideal: 15, max: 24 },
          }
        : false,
    };
  }

  function reasonOf(error) {
    const name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      return "denied";
    }
    if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") {
      return "missing";
    }
    if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
      return "busy";
    }
    return "failed";
  }

  /* Camera and microphone, or the microphone alone if the camera fails.
   * Resolves {stream, videoError, audioError}: stream is null when nothing worked;
   * the errors are "denied" | "missing" | "busy" | "failed" | "insecure" | "unsupported" | "". */
  async function getLocalMedia(wantVideo) {
    const devices = navigator.mediaDevices;
    if (!devices || !devices.getUserMedia) {
      // Plain http (not a secure context), or an in-app browser without WebRTC capture.
      const reason = window.isSecureContext === false ? "insecure" : "unsupported";
      return { stream: null, videoError: reason, audioError: reason };
    }
    let videoError = "";
    if (wantVideo) {
      try {
        const stream = await devices.getUserMedia(constraints(true));
        return { stream: stream, videoError: "", audioError: "" };
      } catch (error) {
        videoError = reasonOf(error);
        if (videoError === "denied") {
          // Both were refused in one prompt; asking again for audio alone would not prompt.
          return { stream: null, videoError: "denied", audioError: "denied" };
        }
      }
    }
    try {
      const stream = await devices.getUserMedia(constraints(false));
      return { stream: stream, videoError: videoError, audioError: "" };
    } catch (error) {
      return { stream: null, videoError: videoError, audioError: reasonOf(error) };
    }
  }

  /* A camera track alone, to switch the camera back on after it was stopped. */
  async function getCamera() {
    const stream = await navigator.mediaDevices.getUserMedia({ video: constraints(true).video });
    return stream.getVideoTracks()[0] || null;
  }

  /* ---- helpers ------------------------------------------------------------------ */

  /* connectionState, or the ICE state where the browser lacks it (older Firefox and WebKit). */
  function connectionState(pc) {
    if (!pc) {
      return "closed";
    }
    if (pc.connectionState) {
      return pc.connectionState;
    }
    const ice = pc.iceConnectionState;
    if (ice === "checking") {
      return "connecting";
    }
    if (ice === "completed") {
      return "connected";
    }
    return ice; // new, connected, disconnected, failed, closed
  }

  function makeConnection(iceServers) {
    // Always pass the configured list, even empty: no public STUN server by default.
    return new RTCPeerConnection({ iceServers: iceServers || [], bundlePolicy: "max-bundle" });
  }

  /* The H.264 the server forwards: packetization-mode=1 and the constrained
   * baseline profile (the server negotiates profile-level-id 42e01f and
   * refuses other profiles: baseline 42001f, main, high); level 3.1 first. */
  function h264Rank(codec) {
    const fmtp = (codec.sdpFmtpLine || "").toLowerCase();
    if (!/^video\/h264$/i.test(codec.mimeType) || fmtp.indexOf("packetization-mode=1") < 0) {
      return -1;
    }
    if (fmtp.indexOf("profile-level-id=42e01f") >= 0) {
      return 1;
    }
    return /profile-level-id=42(e0|c0|40)/.test(fmtp) ? 0 : -1;
  }

  /* The entries of a capability list for the room's codec ("VP8" or "H264"), best first. */
  function codecEntries(codecs, videoCodec) {
    if (videoCodec === "H264") {
      const usable = codecs.filter((c) => h264Rank(c) >= 0);
      const best = usable.filter((c) => h264Rank(c) === 1);
      return best.length > 0 ? best : usable;
    }
    return codecs.filter((c) => /^video\/vp8$/i.test(c.mimeType));
  }

  /* What this browser can decode, as the join declares it: ["VP8", "H264"], or
   * null when the browser cannot say (the server then assumes VP8). */
  function decodableVideoCodecs() {
    if (!window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) {
      return null;
    }
    const capabilities = RTCRtpReceiver.getCapabilities("video");
    if (!capabilities || !capabilities.codecs) {
      return null;
    }
    return ["VP8", "H264"].filter((name) => codecEntries(capabilities.codecs, name).length > 0);
  }

  /* Offer and accept the room's codec alone (Safari would put H.264 first, Chrome
   * VP8); rtx stays, for retransmissions. `side` is "sender" (the publisher's
   * transceiver) or "receiver" (the subscriber's): browsers check the list
   * against that side's capabilities. */
  function preferCodec(transceiver, videoCodec, side) {
    const api = side === "receiver" ? window.RTCRtpReceiver : window.RTCRtpSender;
    if (!transceiver.setCodecPreferences || !api || !api.getCapabilities) {
      return;
    }
    const capabilities = api.getCapabilities("video");
    if (!capabilities || !capabilities.codecs) {
      return;
    }
    const chosen = codecEntries(capabilities.codecs, videoCodec || "VP8");
    const rtx = capabilities.codecs.filter((c) => /^video\/rtx$/i.test(c.mimeType));
    if (chosen.length === 0) {
      return;
    }
    try {
      transceiver.setCodecPreferences(chosen.concat(rtx));
    } catch (error) {
      try {
        transceiver.setCodecPreferences(chosen);
      } catch (again) {
        console.warn("concord: cannot prefer " + videoCodec, again);
      }
    }
  }

  /* Cap the video sender: encodings exist only after negotiation in some browsers. */
  async function capBitrate(sender, bitsPerSecond) {
    if (!sender || !sender.getParameters || !sender.setParameters) {
      return;
    }
    try {
      const parameters = sender.getParameters();
      if (!parameters.encodings || parameters.encodings.length === 0) {
        parameters.encodings = [{}];
      }
      parameters.encodings[0].maxBitrate = bitsPerSecond;
      await sender.setParameters(parameters);
    } catch (error) {
      console.warn("concord: cannot cap the bitrate", error);
    }
  }

  /* The m-sections of an SDP: [{mid, kind, direction, streamId, trackId}], in order. */
  function parseSections(sdp) {
    const sections = [];
    let current = null;
    let sessionDirection = "sendrecv";
    (sdp || "").split(/\r?\n/).forEach((line) => {
      if (line.indexOf("m=") === 0) {
        const parts = line.slice(2).split(" ");
        current = {
          mid: null,
          kind: parts[0],
          direction: null,
          rejected: parts[1] === "0",
          streamId: null,
          trackId: null,
        };
        sections.push(current);
        return;
      }
      const direction = /^a=(sendrecv|sendonly|recvonly|inactive)$/.exec(line);
      if (direction) {
        if (current) {
          current.direction = direction[1];
        } else {
          sessionDirection = direction[1];
        }
        return;
      }
      if (!current) {
        return;
      }
      if (line.indexOf("a=mid:") === 0) {
        current.mid = line.slice(6).trim();
      } else if (line.indexOf("a=msid:") === 0) {
        const ids = line.slice(7).trim().split(/\s+/);
        current.streamId = ids[0] || null;
        current.trackId = ids[1] || null;
      }
    });
    sections.forEach((s) => {
      s.direction = s.rejected ? "inactive" : s.direction || sessionDirection;
    });
    return sections;
  }

  function candidateFields(target, candidate) {
    // An empty candidate tells the server that gathering is over.
    return {
      target: target,
      candidate: candidate ? candidate.candidate : "",
      sdp_mid: candidate && candidate.sdpMid !== undefined ? candidate.sdpMid : null,
      sdp_mline_index:
        candidate && typeof candidate.sdpMLineIndex === "number" ? candidate.sdpMLineIndex : null,
    };
  }

  async function addRemoteCandidate(pc, message) {
    if (!message.candidate) {
      try {
        // End of candidates. Older WebKit rejects the empty form; nothing is lost then.
        await pc.addIceCandidate({ candidate: "", sdpMid: message.sdp_mid || "0", sdpMLineIndex: 0 });
      } catch (error) {
        /* ignored */
      }
      return;
    }
    const init = { candidate: message.candidate };
    if (message.sdp_mid !== null && message.sdp_mid !== undefined) {
      init.sdpMid = message.sdp_mid;
    }
    if (typeof message.sdp_mline_index === "number") {
      init.sdpMLineIndex = message.sdp_mline_index;
    }
    if (init.sdpMid === undefined && init.sdpMLineIndex === undefined) {
      init.sdpMLineIndex = 0; // bundled: the first m-section carries the transport
    }
    try {
      await pc.addIceCandidate(init);
    } catch (error) {
      // A candidate of an earlier ICE generation (after a restart) is refused: harmless.
      console.debug("concord: candidate not added", error);
    }
  }

  /* A serialising queue: each task starts when the previous one has settled. */
  class Serial {
    constructor() {
      this.tail = Promise.resolve();
    }

    run(task) {
      const result = this.tail.then(task, task);
      this.tail = result.catch(() => undefined);
      return result;
    }
  }

  /* ---- the publisher connection --------------------------------------------------- */

  class Publisher {
    /* options: iceServers, videoCodec ("VP8" | "H264", the room's),
     *          request(type, fields, timeoutMs) → Promise, onState(state) */
    constructor(options) {
      this.options = options;
      this.pc = null;
      this.audio = null; // transceivers
      this.video = null;
      this.stream = null;
      this.serial = new Serial();
      // Our candidates wait until the server has answered (and so has a connection to add them to).
      this.localCandidates = [];
      this.answered = false;
      // The server's candidates wait until its answer is applied.
      this.remoteCandidates = [];
    }

    get state() {
      return connectionState(this.pc);
    }

    /* First publication: a connection with the stream's tracks (either may be missing). */
    start(stream) {
      this.stream = stream;
      return this.serial.run(async () => {
        this._build();
        await this._negotiate();
      });
    }

    /* After a network change or a reconnected socket: publish again on a new
     * RTCPeerConnection. Not an ICE restart on the old one: Concord's media
     * server answers every offer with new ICE credentials from a new connection
     * of its own (aiortc cannot restart ICE), with a new DTLS certificate, and
     * Chrome takes such an answer on the old connection without complaint but
     * never gets media through it (measured with Chromium 156). A new connection
     * works with any server. */
    restart() {
      return this.serial.run(async () => {
        this._build();
        await this._negotiate();
      });
    }

    /* Swap a track without renegotiating (camera back on, or off with null). */
    async replaceTrack(kind, track) {
      const transceiver = kind === "audio" ? this.audio : this.video;
      if (transceiver && transceiver.sender) {
        await transceiver.sender.replaceTrack(track);
        if (kind === "video" && track) {
          await capBitrate(transceiver.sender, VIDEO_MAX_BITRATE);
        }
      }
    }

    addRemoteCandidate(message) {
      if (this.pc === null) {
        return;
      }
      if (!this.answered) {
        this.remoteCandidates.push(message);
        return;
      }
      addRemoteCandidate(this.pc, message);
    }

    close() {
      if (this.pc !== null) {
        this.pc.close();
        this.pc = null;
      }
      this.options.onState("closed");
    }

    _build() {
      if (this.pc !== null) {
        this.pc.close();
      }
      const pc = makeConnection(this.options.iceServers);
      const stream = this.stream;
      const audioTrack = stream ? stream.getAudioTracks()[0] : null;
      const videoTrack = stream ? stream.getVideoTracks()[0] : null;
      const init = { direction: "sendonly", streams: stream ? [stream] : [] };
      // Audio first, then video: the order the server expects in the offer.
      this.audio = pc.addTransceiver(audioTrack || "audio", init);
      this.video = pc.addTransceiver(videoTrack || "video", init);
      preferCodec(this.video, this.options.videoCodec, "sender");
      pc.onicecandidate = (event) => this._localCandidate(pc, event.candidate);
      const report = () => {
        if (pc === this.pc) {
          this.options.onState(connectionState(pc));
        }
      };
      pc.onconnectionstatechange = report;
      pc.oniceconnectionstatechange = report;
      this.pc = pc;
      this.options.onState(connectionState(pc));
      this.localCandidates = [];
      this.remoteCandidates = [];
      this.answered = false;
    }

    async _negotiate() {
      const pc = this.pc;
      this.answered = false;
      this.localCandidates = [];
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const data = await this.options.request(
        "publish_offer",
        { sdp: pc.localDescription.sdp },
        OFFER_TIMEOUT_MS
      );
      if (pc !== this.pc) {
        return; // replaced meanwhile
      }
      await pc.setRemoteDescription({ type: "answer", sdp: data.sdp });
      this.answered = true;
      const local = this.localCandidates.splice(0);
      local.forEach((candidate) => this._sendCandidate(candidate));
      const remote = this.remoteCandidates.splice(0);
      for (const message of remote) {
        await addRemoteCandidate(pc, message);
      }
      await capBitrate(this.video.sender, VIDEO_MAX_BITRATE);
    }

    _localCandidate(pc, candidate) {
      if (pc !== this.pc) {
        return;
      }
      if (!this.answered) {
        this.localCandidates.push(candidate);
        return;
      }
      this._sendCandidate(candidate);
    }

    _sendCandidate(candidate) {
      this.options.request("ice_candidate", candidateFields("publisher", candidate)).catch(() => {
        /* the ICE watchdog notices if this mattered */
      });
    }
  }

  /* ---- the subscriber connection -------------------------------------------------- */

  class Subscriber {
    /* options: iceServers, videoCodec ("VP8" | "H264", the room's), request, onState(state),
     *          onTracks(Map participantId → {audio: track|null, video: track|null}) */
    constructor(options) {
      this.options = options;
      this.pc = null;
      this.serial = new Serial();
      this.sources = {};
      this.connection = null; // the server's number for the connection we answer on
      this.remoteCandidates = [];
      // mid → stream id from track events, for offers that carry no a=msid line.
      this.streamOfMid = new Map();
    }

    get state() {
      return connectionState(this.pc);
    }

    /* Apply the server's offer, answer it, and report which tracks belong to whom.
     * `connection` is the server's number for its side; a new number means the
     * server replaced its connection (after a restart_subscriber or a dropped
     * socket), and the offer must be answered on a new RTCPeerConnection. */
    handleOffer(sdp, sources, connection) {
      return this.serial.run(async () => {
        const replaced =
          typeof connection === "number" && this.connection !== null && connection !== this.connection;
        if (this.pc === null || replaced) {
          this._build();
        }
        if (typeof connection === "number") {
          this.connection = connection;
        }
        try {
          await this.pc.setRemoteDescription({ type: "offer", sdp: sdp });
        } catch (error) {
          // An offer the old connection cannot take (the server rebuilt its side,
          // with new ICE and DTLS credentials): a fresh connection takes any offer.
          console.warn("concord: subscriber offer refused, starting afresh", error);
          this._build();
          await this.pc.setRemoteDescription({ type: "offer", sdp: sdp });
        }
        const pc = this.pc;
        const queued = this.remoteCandidates.splice(0);
        for (const message of queued) {
          await addRemoteCandidate(pc, message);
        }
        // The server offers the room's codec alone; the answer keeps to it.
        pc.getTransceivers().forEach((transceiver) => {
          const track = transceiver.receiver ? transceiver.receiver.track : null;
          if (track && track.kind === "video") {
            preferCodec(transceiver, this.options.videoCodec, "receiver");
          }
        });
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        this.sources = sources || {};
        this._emitTracks();
        await this.options.request("subscriber_answer", { sdp: pc.localDescription.sdp });
      });
    }

    addRemoteCandidate(message) {
      if (this.pc === null || !this.pc.remoteDescription) {
        this.remoteCandidates.push(message);
        return;
      }
      addRemoteCandidate(this.pc, message);
    }

    /* Ask the server for a fresh offer with an ICE restart (it arrives as subscriber_offered). */
    restart() {
      return this.options.request("restart_subscriber", {});
    }

    close() {
      if (this.pc !== null) {
        this.pc.close();
        this.pc = null;
      }
      this.remoteCandidates = [];
      this.connection = null;
      this.streamOfMid.clear();
      this.options.onTracks(new Map());
      this.options.onState("closed");
    }

    _build() {
      if (this.pc !== null) {
        this.pc.close();
      }
      const pc = makeConnection(this.options.iceServers);
      this.streamOfMid = new Map();
      pc.onicecandidate = (event) => {
        if (pc === this.pc) {
          this.options
            .request("ice_candidate", candidateFields("subscriber", event.candidate))
            .catch(() => undefined);
        }
      };
      pc.ontrack = (event) => {
        if (pc !== this.pc) {
          return;
        }
        const mid = event.transceiver ? event.transceiver.mid : null;
        if (mid !== null && event.streams && event.streams[0]) {
          this.streamOfMid.set(mid, event.streams[0].id);
        }
        // Track events fire inside setRemoteDescription; the mapping follows the offer.
        if (pc.remoteDescription) {
          this._emitTracks();
        }
      };
      const report = () => {
        if (pc === this.pc) {
          this.options.onState(connectionState(pc));
        }
      };
      pc.onconnectionstatechange = report;
      pc.oniceconnectionstatechange = report;
      this.pc = pc;
    }

    /* Which receiving track is whose: read from the offer itself rather than from
     * track events, because a reused slot that changes source (a new msid on a
     * transceiver that was already receiving) fires no track event. */
    _emitTracks() {
      const pc = this.pc;
      const result = new Map();
      if (pc === null || !pc.remoteDescription) {
        this.options.onTracks(result);
        return;
      }
      const transceivers = pc.getTransceivers();
      parseSections(pc.remoteDescription.sdp).forEach((section) => {
        if (section.direction !== "sendonly" && section.direction !== "sendrecv") {
          return; // an idle slot
        }
        if (section.kind !== "audio" && section.kind !== "video") {
          return;
        }
        const streamId = section.streamId || this.streamOfMid.get(section.mid) || null;
        const pid =
          (streamId && this.sources[streamId]) ||
          (section.trackId && this.sources[section.trackId]) ||
          null;
        if (!pid) {
          return;
        }
        const transceiver = transceivers.find((t) => t.mid === section.mid);
        if (!transceiver || !transceiver.receiver || !transceiver.receiver.track) {
          return;
        }
        if (!result.has(pid)) {
          result.set(pid, { audio: null, video: null });
        }
        result.get(pid)[section.kind] = transceiver.receiver.track;
      });
      this.options.onTracks(result);
    }
  }

  NS.VIDEO_MAX_BITRATE = VIDEO_MAX_BITRATE;
  NS.getLocalMedia = getLocalMedia;
  NS.getCamera = getCamera;
  NS.connectionState = connectionState;
  NS.decodableVideoCodecs = decodableVideoCodecs;
  NS.parseSections = parseSections;
  NS.Publisher = Publisher;
  NS.Subscriber = Subscriber;
})();
