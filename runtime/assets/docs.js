// The reference page of an apigen service: renders the OpenAPI document the service serves
// (its URL is the page's `apigen-openapi` meta tag) in API terms, with a form per operation
// to try it with a token or API key. Served by the service itself (no CDN), under its
// Content-Security-Policy: no inline script, requests to the service's own origin only.
"use strict";

(function () {
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  };
  const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
  let doc = null;

  // `#/components/schemas/Book` → the schema it points at (JSON Pointer, RFC 6901).
  function deref(node, seen) {
    let guard = 0;
    while (node && typeof node === "object" && typeof node.$ref === "string" && guard++ < 32) {
      if (!node.$ref.startsWith("#/")) return node;
      let at = doc;
      for (const part of node.$ref.slice(2).split("/")) {
        at = at && at[part.replace(/~1/g, "/").replace(/~0/g, "~")];
      }
      if (seen) seen.name = node.$ref.split("/").pop();
      node = at;
    }
    return node || {};
  }

  // A one-line description of a schema in JSON terms: `string (date-time, ≤ 250 chars)`.
  function typeOf(schema) {
    const named = {};
    const s = deref(schema, named);
    if (s === true || s === undefined) return "any";
    const parts = [];
    let type = Array.isArray(s.type) ? s.type.join(" | ") : s.type;
    if (!type) {
      if (s.properties) type = "object";
      else if (s.items) type = "array";
      else if (s.oneOf || s.anyOf) type = "one of " + (s.oneOf || s.anyOf).map(typeOf).join(" | ");
      else if (s.allOf) type = "all of " + s.allOf.map(typeOf).join(" & ");
      else type = "any";
    }
    if (type === "array" && s.items) type = "array of " + typeOf(s.items);
    if (named.name && (type === "object" || type.startsWith("all of"))) type = named.name + " (object)";
    if (s.format) parts.push(s.format);
    if (s.enum) parts.push("one of " + s.enum.map((v) => JSON.stringify(v)).join(", "));
    if (s.minLength !== undefined) parts.push("≥ " + s.minLength + " chars");
    if (s.maxLength !== undefined) parts.push("≤ " + s.maxLength + " chars");
    if (s.minimum !== undefined) parts.push("≥ " + s.minimum);
    if (s.maximum !== undefined) parts.push("≤ " + s.maximum);
    if (s.exclusiveMinimum !== undefined && typeof s.exclusiveMinimum === "number") parts.push("> " + s.exclusiveMinimum);
    if (s.exclusiveMaximum !== undefined && typeof s.exclusiveMaximum === "number") parts.push("< " + s.exclusiveMaximum);
    if (s.minItems !== undefined) parts.push("≥ " + s.minItems + " items");
    if (s.maxItems !== undefined) parts.push("≤ " + s.maxItems + " items");
    if (s.pattern) parts.push("pattern " + s.pattern);
    if (s.nullable) parts.push("nullable");
    if (s.readOnly) parts.push("read-only");
    if (s.writeOnly) parts.push("write-only");
    if (s.default !== undefined) parts.push("default " + JSON.stringify(s.default));
    return parts.length ? type + " (" + parts.join(", ") + ")" : type;
  }

  // The members of an object schema as table rows, nested objects indented.
  function members(schema, depth, rows, seen) {
    const s = deref(schema);
    const all = [s].concat((s.allOf || []).map((x) => deref(x)));
    for (const part of all) {
      const required = new Set(part.required || []);
      for (const [name, prop] of Object.entries(part.properties || {})) {
        const p = deref(prop);
        rows.push(el("tr", {},
          el("td", { style: "padding-left:" + (0.6 + depth * 1.2) + "rem" }, el("code", {}, name)),
          el("td", {}, typeOf(prop)),
          el("td", {}, required.has(name) ? "yes" : "no"),
          el("td", {}, p.description || p.title || "")));
        const inner = p.type === "array" ? deref(p.items) : p;
        const key = JSON.stringify(prop.$ref || (p.items && p.items.$ref) || "");
        if (depth < 4 && (inner.properties || inner.allOf) && !seen.has(key)) {
          seen.add(key);
          members(inner, depth + 1, rows, seen);
          seen.delete(key);
        }
      }
    }
    return rows;
  }

  function schemaBlock(schema) {
    const s = deref(schema);
    const shown = s.type === "array" ? deref(s.items) : s;
    const block = el("div", { class: "schema" }, el("div", {}, el("strong", {}, typeOf(schema))));
    if (shown.properties || shown.allOf) {
      const rows = members(shown, 0, [], new Set());
      if (rows.length) {
        block.append(el("table", {}, el("tr", {}, el("th", {}, "member"), el("th", {}, "type"), el("th", {}, "required"), el("th", {}, "")), rows));
      }
    }
    return block;
  }

  // An example body: the contract's own, else one made from the schema.
  function example(schema, depth) {
    const s = deref(schema);
    if (s.example !== undefined) return s.example;
    if (s.default !== undefined) return s.default;
    if (s.enum) return s.enum[0];
    if (depth > 4) return null;
    const type = Array.isArray(s.type) ? s.type[0] : s.type;
    if (type === "object" || s.properties || s.allOf) {
      const out = {};
      for (const part of [s].concat((s.allOf || []).map((x) => deref(x)))) {
        for (const [name, prop] of Object.entries(part.properties || {})) {
          if (!deref(prop).readOnly) out[name] = example(prop, depth + 1);
        }
      }
      return out;
    }
    if (type === "array") return [example(s.items, depth + 1)];
    if (type === "integer" || type === "number") return s.minimum !== undefined ? s.minimum : 0;
    if (type === "boolean") return false;
    if (s.format === "date") return "2024-01-01";
    if (s.format === "date-time") return "2024-01-01T00:00:00Z";
    if (s.format === "email") return "user@example.com";
    if (s.format === "uuid") return "00000000-0000-4000-8000-000000000000";
    return "string";
  }

  function jsonBody(content) {
    if (!content) return null;
    const key = Object.keys(content).find((k) => k.includes("json")) || Object.keys(content)[0];
    return key ? { media: key, schema: content[key].schema || {}, example: content[key].example } : null;
  }

  // Who may call an operation: its security requirements (OpenAPI §4.8.30), alternatives
  // joined by "or", the schemes of one alternative by "and", and its roles.
  function access(op) {
    const req = op.security !== undefined ? op.security : doc.security;
    const roles = op["x-apigen-roles"];
    let text;
    if (!req || req.length === 0 || req.some((alt) => Object.keys(alt).length === 0)) text = "anyone";
    else text = req.map((alt) => Object.entries(alt).map(([name, scopes]) => name + (scopes.length ? " (" + scopes.join(", ") + ")" : "")).join(" and ")).join(" or ");
    if (roles && roles.length) text += "; roles: " + roles.join(", ");
    return text;
  }

  function tryIt(path, method, params, body) {
    const inputs = {};
    const form = el("div", { class: "try" });
    for (const p of params) {
      const input = el("input", { type: "text", placeholder: p.name, "aria-label": p.name });
      const s = deref(p.schema || {});
      if (p.example !== undefined) input.value = String(p.example);
      else if (s.example !== undefined) input.value = String(s.example);
      inputs[p.in + ":" + p.name] = input;
      form.append(el("label", {}, p.name + " (" + p.in + ") ", input));
    }
    let text = null;
    if (body) {
      text = el("textarea", { rows: "6", "aria-label": "request body" });
      text.value = JSON.stringify(body.example !== undefined ? body.example : example(body.schema, 0), null, 2);
      form.append(el("label", {}, "body (" + body.media + ")", text));
    }
    const out = el("pre", { class: "out" });
    const send = async () => {
      let url = path;
      const query = new URLSearchParams();
      const headers = {};
      for (const [key, input] of Object.entries(inputs)) {
        const [where, name] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
        if (input.value === "") continue;
        if (where === "path") url = url.split("{" + name + "}").join(encodeURIComponent(input.value));
        else if (where === "query") query.append(name, input.value);
        else if (where === "header") headers[name] = input.value;
      }
      const credential = document.getElementById("credential").value.trim();
      if (credential) {
        const kind = document.getElementById("credential-kind").value;
        if (kind === "bearer") headers.authorization = "Bearer " + credential;
        else headers[kind] = credential;
      }
      if (text) headers["content-type"] = body.media;
      const qs = query.toString();
      out.textContent = "…";
      try {
        const res = await fetch(url + (qs ? "?" + qs : ""), { method: method.toUpperCase(), headers, body: text ? text.value : undefined });
        const answer = await res.text();
        let shown = answer;
        try { shown = JSON.stringify(JSON.parse(answer), null, 2); } catch (_) { /* not JSON */ }
        out.textContent = res.status + " " + res.statusText + "\n" + shown;
      } catch (e) {
        out.textContent = "request failed: " + e.message;
      }
    };
    form.append(el("button", { type: "button", onclick: send }, "Send"), out);
    return el("details", {}, el("summary", {}, "Try it"), form);
  }

  function operation(path, method, item, op) {
    const params = [];
    for (const p of (item.parameters || []).concat(op.parameters || [])) {
      const q = deref(p);
      const i = params.findIndex((x) => x.name === q.name && x.in === q.in);
      if (i >= 0) params[i] = q; else params.push(q);
    }
    const id = op.operationId || method + " " + path;
    const box = el("section", { class: "op" + (op.deprecated ? " deprecated" : ""), id: id },
      el("h3", {}, el("span", { class: "m" }, method.toUpperCase()), " ", el("span", { class: "p" }, path),
        op.deprecated ? el("span", { class: "tag" }, "deprecated") : null),
      el("p", {}, op.summary || op.description || ""),
      el("p", { class: "who" }, "Operation ", el("code", {}, id), " — who may call it: " + access(op)));
    if (params.length) {
      box.append(el("h4", {}, "Parameters"), el("table", {},
        el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "required"), el("th", {}, "")),
        params.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, typeOf(p.schema || {})),
          el("td", {}, p.required ? "yes" : "no"), el("td", {}, p.description || "")))));
    }
    const body = jsonBody(op.requestBody && deref(op.requestBody).content);
    if (body) box.append(el("h4", {}, "Request body (" + body.media + ")"), schemaBlock(body.schema));
    const responses = Object.entries(op.responses || {});
    if (responses.length) {
      box.append(el("h4", {}, "Responses"));
      for (const [status, r] of responses) {
        const res = deref(r);
        const content = jsonBody(res.content);
        // Success bodies are shown; error bodies, alike across operations, fold away.
        const shown = !content ? null : status.startsWith("2") ? schemaBlock(content.schema)
          : el("details", {}, el("summary", {}, "body"), schemaBlock(content.schema));
        box.append(el("div", { class: "resp" }, el("strong", {}, status), " " + (res.description || ""), shown));
      }
    }
    box.append(tryIt(path, method, params, body));
    return box;
  }

  function render() {
    const root = document.getElementById("operations");
    root.textContent = "";
    const info = doc.info || {};
    document.getElementById("title").textContent = (info.title || "API") + " " + (info.version || "");
    const groups = new Map();
    // Untagged operations are grouped by the first segment after the prefix all paths share.
    const paths = Object.keys(doc.paths || {});
    const split = paths.map((p) => p.split("/").filter(Boolean));
    let shared = 0;
    while (split.length && split.every((s) => s.length > shared + 1 && s[shared] === split[0][shared] && !s[shared].startsWith("{"))) shared++;
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const segment = path.split("/").filter(Boolean)[shared] || "/";
        const tag = (op.tags && op.tags[0]) || (segment.startsWith("{") ? "/" : segment);
        if (!groups.has(tag)) groups.set(tag, []);
        groups.get(tag).push(operation(path, method, item, op));
      }
    }
    for (const [tag, ops] of groups) root.append(el("h2", {}, tag), ...ops);
    const count = [...groups.values()].reduce((n, ops) => n + ops.length, 0);
    document.getElementById("count").textContent = count + " operations";
    if (location.hash) {
      const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
      if (target) target.scrollIntoView();
    }
  }

  async function load() {
    const meta = document.querySelector('meta[name="apigen-openapi"]');
    const url = meta ? meta.getAttribute("content") : "/openapi.json";
    try {
      const res = await fetch(url);
      doc = await res.json();
      render();
    } catch (e) {
      document.getElementById("operations").textContent = "The contract could not be loaded from " + url + ": " + e.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("credential-form");
    if (form) form.addEventListener("submit", (e) => e.preventDefault());
    load();
  });
})();
