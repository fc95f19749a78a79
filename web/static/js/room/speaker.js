/* Concord room: who is speaking, from the audio level of each received stream.
 *
 * One AnalyserNode per remote participant, sampled a few times a second. The
 * loudest participant above a threshold becomes the active speaker, and keeps
 * the big tile until someone else has been louder for a moment, so the layout
 * does not flicker on every cough.
 *
 * Needs an AudioContext made inside a tap (iOS and WeChat keep one made
 * elsewhere suspended); without one, nobody is ever "speaking" and the page
 * falls back to the first tile.
 *
 * Exports on window.ConcordRoom: SpeakerDetector.
 */
(function () {
  "use strict";

  const NS = (window.ConcordRoom = window.ConcordRoom || {});

  const SAMPLE_MS = 200;
  const SPEAKING_RMS = 0.03; // about -30 dBFS
  const HOLD_MS = 1500; // the current speaker keeps the floor this long after going quiet
  const DECAY = 0.7; // smoothing of the level between samples

  class SpeakerDetector {
    /* onChange(activeId | null, speakingIds: Set) is called when either changes. */
    constructor(onChange) {
      this.onChange = onChange;
      this.context = null;
      this.entries = new Map(); // pid → {track, source, analyser, buffer, level, loudAt}
      this.timer = null;
      this.active = null;
      this.activeSince = 0;
      this.speaking = new Set();
    }

    /* Call from a tap handler. Returns the context (or null when WebAudio is missing). */
    unlock() {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) {
        return null;
      }
      if (this.context === null) {
        try {
          this.context = new Context();
        } catch (error) {
          return null;
        }
      }
      if (this.context.state === "suspended" && this.context.resume) {
        const resumed = this.context.resume();
        if (resumed && resumed.catch) {
          resumed.catch(() => undefined);
        }
      }
      return this.context;
    }

    /* Follow `track` (an audio MediaStreamTrack) as participant `pid`'s voice. */
    follow(pid, track) {
      const existing = this.entries.get(pid);
      if (existing && existing.track === track) {
        return;
      }
      this.forget(pid);
      if (!track || this.context === null) {
        return;
      }
      try {
        // Chrome feeds remote WebRTC audio to WebAudio only while a media element
        // also plays the stream: the tile's <video> does.
        const source = this.context.createMediaStreamSource(new MediaStream([track]));
        const analyser = this.context.createAnalyser();
        analyser.fftSize = 512;
        source.connect(analyser);
        this.entries.set(pid, {
          track: track,
          source: source,
          analyser: analyser,
          buffer: new Uint8Array(analyser.fftSize),
          level: 0,
          loudAt: 0,
        });
      } catch (error) {
        console.warn("concord: cannot measure the audio of " + pid, error);
        return;
      }
      this._startTimer();
    }

    forget(pid) {
      const entry = this.entries.get(pid);
      if (!entry) {
        return;
      }
      try {
        entry.source.disconnect();
      } catch (error) {
        /* already gone */
      }
      this.entries.delete(pid);
      if (this.active === pid) {
        this.active = null;
        this._report();
      }
    }

    stop() {
      Array.from(this.entries.keys()).forEach((pid) => this.forget(pid));
      if (this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }

    _startTimer() {
      if (this.timer === null) {
        this.timer = setInterval(() => this._sample(), SAMPLE_MS);
      }
    }

    _sample() {
      const now = Date.now();
      const speaking = new Set();
      let loudest = null;
      let loudestLevel = 0;
      this.entries.forEach((entry, pid) => {
        // Bytes rather than floats: getFloatTimeDomainData is missing on older WebKit.
        entry.analyser.getByteTimeDomainData(entry.buffer);
        let sum = 0;
        for (let i = 0; i < entry.buffer.length; i += 1) {
          const v = (entry.buffer[i] - 128) / 128;
          sum += v * v;
        }
        const rms = Math.sqrt(sum / entry.buffer.length);
        entry.level = Math.max(rms, entry.level * DECAY);
        if (entry.level >= SPEAKING_RMS) {
          entry.loudAt = now;
          speaking.add(pid);
          if (entry.level > loudestLevel) {
            loudest = pid;
            loudestLevel = entry.level;
          }
        }
      });
      let changed = !sameSet(speaking, this.speaking);
      this.speaking = speaking;
      if (loudest !== null && loudest !== this.active) {
        const current = this.entries.get(this.active);
        const currentQuiet = !current || now - current.loudAt > HOLD_MS;
        if (currentQuiet) {
          this.active = loudest;
          this.activeSince = now;
          changed = true;
        }
      }
      if (changed) {
        this._report();
      }
    }

    _report() {
      try {
        this.onChange(this.active, this.speaking);
      } catch (error) {
        console.error("concord: speaker callback failed", error);
      }
    }
  }

  function sameSet(a, b) {
    if (a.size !== b.size) {
      return false;
    }
    let same = true;
    a.forEach((value) => {
      if (!b.has(value)) {
        same = false;
      }
    });
    return same;
  }

  NS.SpeakerDetector = SpeakerDetector;
})();
