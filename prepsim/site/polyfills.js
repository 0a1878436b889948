/* polyfills: small shims the app relies on, for older browsers.
   Written for prepsim; no third-party code. */
(function () {
  'use strict';
  var g = typeof globalThis !== 'undefined' ? globalThis : window;
  if (typeof globalThis === 'undefined') { window.globalThis = window; }
  var EP = g.Element && g.Element.prototype;
  if (EP && !EP.replaceChildren) {
    EP.replaceChildren = function () {
      while (this.firstChild) { this.removeChild(this.firstChild); }
      this.append.apply(this, arguments);
    };
  }
  if (EP && !EP.toggleAttribute) {
    EP.toggleAttribute = function (name, force) {
      var on = force === undefined ? !this.hasAttribute(name) : !!force;
      if (on) { this.setAttribute(name, ''); } else { this.removeAttribute(name); }
      return on;
    };
  }
  if (!g.AbortController) {
    g.AbortController = function () {
      this.signal = undefined;
      this.abort = function () {};
    };
  }
  if (!String.prototype.padStart) {
    String.prototype.padStart = function (n, s) {
      var r = String(this);
      s = s === undefined ? ' ' : String(s);
      while (r.length < n) { r = s + r; }
      return r.slice(r.length - Math.max(n, this.length));
    };
  }
})();
