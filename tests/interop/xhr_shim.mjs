// A minimal XMLHttpRequest for Node, enough for strophe.js's BOSH transport.
//
// Browsers provide XMLHttpRequest; Node does not, and strophe.js's Node build
// shims only the DOM (@xmldom/xmldom) and WebSocket (ws). Its BOSH transport
// needs: open/send/abort, setRequestHeader, overrideMimeType, readyState with
// onreadystatechange, status, responseText, responseXML (parsed with the global
// DOMParser that strophe's Node build installs) and getAllResponseHeaders.
// Requests go through node:http(s) with the global agent (keep-alive, like a
// browser reusing connections for the held BOSH requests).
//
//   import { installXMLHttpRequest } from "./xhr_shim.mjs";
//   installXMLHttpRequest();   // before any strophe Connection is created

import http from "node:http";
import https from "node:https";

const UNSENT = 0;
const OPENED = 1;
const HEADERS_RECEIVED = 2;
const LOADING = 3;
const DONE = 4;

export class NodeXMLHttpRequest {
  static UNSENT = UNSENT;
  static OPENED = OPENED;
  static HEADERS_RECEIVED = HEADERS_RECEIVED;
  static LOADING = LOADING;
  static DONE = DONE;

  constructor() {
    this.readyState = UNSENT;
    this.status = 0;
    this.statusText = "";
    this.responseText = "";
    this.onreadystatechange = null;
    this.withCredentials = false;
    this.timeout = 0;
    this._headers = {};
    this._responseHeaders = {};
    this._req = null;
    this._aborted = false;
  }

  open(method, url, async = true) {
    if (async === false) throw new Error("synchronous XMLHttpRequest is not supported");
    this._method = method;
    this._url = new URL(url);
    this._setState(OPENED);
  }

  setRequestHeader(name, value) {
    if (this.readyState !== OPENED) throw new Error("setRequestHeader before open");
    this._headers[name] = value;
  }

  overrideMimeType() {}

  send(body) {
    if (this.readyState !== OPENED) throw new Error("send before open");
    const data = body == null ? "" : String(body);
    const mod = this._url.protocol === "https:" ? https : http;
    const req = mod.request(this._url, {
      method: this._method,
      headers: { ...this._headers, "Content-Length": Buffer.byteLength(data) },
    });
    this._req = req;
    req.on("response", (res) => {
      if (this._aborted) return res.resume();
      this.status = res.statusCode;
      this.statusText = res.statusMessage;
      this._responseHeaders = res.headers;
      this._setState(HEADERS_RECEIVED);
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        if (this._aborted) return;
        this.responseText = Buffer.concat(chunks).toString("utf8");
        this._setState(DONE);
      });
      res.on("error", () => this._fail());
    });
    req.on("error", () => this._fail());
    if (this.timeout > 0) req.setTimeout(this.timeout, () => req.destroy(new Error("timeout")));
    req.end(data);
  }

  abort() {
    this._aborted = true;
    this._req?.destroy();
    this.readyState = UNSENT;
  }

  get responseXML() {
    if (this.readyState !== DONE || !this.responseText) return null;
    const doc = new globalThis.DOMParser().parseFromString(this.responseText, "text/xml");
    return doc ?? null;
  }

  getResponseHeader(name) {
    const v = this._responseHeaders[name.toLowerCase()];
    return v == null ? null : Array.isArray(v) ? v.join(", ") : String(v);
  }

  getAllResponseHeaders() {
    return Object.entries(this._responseHeaders)
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}\r\n`)
      .join("");
  }

  _fail() {
    if (this._aborted || this.readyState === DONE) return;
    this.status = 0;
    this._setState(DONE);
  }

  _setState(s) {
    this.readyState = s;
    this.onreadystatechange?.();
  }
}

export function installXMLHttpRequest() {
  if (typeof globalThis.XMLHttpRequest === "undefined") globalThis.XMLHttpRequest = NodeXMLHttpRequest;
}
