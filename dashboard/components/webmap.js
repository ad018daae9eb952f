// The Map page's WebGL scatter: every token of every panel, linked across panels. Plain WebGL2, no library:
// the points come in the payload packed by dashboard/mapdata.py (layout in its docstring), fetched from the
// address the server gives (dashboard/components/payloads.py: cacheable, gzip) or, without that route, sent
// as the component's data.
// What changes after the first draw (search, neighbours, the URL's selection) comes from the small "link"
// component through a bus on globalThis; what the user does goes back to Python as the state value "view".
const BUS = (globalThis.__hpMapBus ||= { link: null, maps: new Set() });
const FLAG = { sel: 1, near: 2, mark: 4, hidden: 8 };
const GRID = 256; // cells per side of the hover index
const FONTS = "'Noto Sans', 'Noto Sans CJK JP', 'Noto Sans Arabic', 'Noto Sans Hebrew', 'Noto Sans Thai', " +
  "'Noto Sans Devanagari', 'Noto Sans Tamil', 'Noto Sans Georgian', sans-serif";
const LABEL_FONT = `12px ${FONTS}`, LABEL_FONT_HEAD = `bold 11px ${FONTS}`;

const VS = `#version 300 es
in float a_x; in float a_y; in float a_c; in float a_f;
uniform vec2 u_center; uniform vec2 u_fit; uniform float u_scale; uniform float u_size; uniform float u_dim;
uniform int u_pass; uniform sampler2D u_lut;
out vec4 v_col; out float v_ring;
void main() {
  int f = int(a_f);
  bool emph = (f & 7) != 0;
  bool gone = (f & 8) != 0 || (u_pass == 0 && emph) || (u_pass == 1 && !emph);
  vec2 p = (vec2(a_x, a_y) - u_center) * 2.0 * u_scale * u_fit;
  gl_Position = gone ? vec4(9.0, 9.0, 9.0, 1.0) : vec4(p, 0.0, 1.0);
  vec4 c = texelFetch(u_lut, ivec2(int(a_c), 0), 0);
  gl_PointSize = u_size * ((f & 1) != 0 ? 3.2 : emph ? 2.2 : 1.0);
  v_col = vec4(c.rgb, (u_dim > 0.5 && !emph) ? 0.10 : 0.85);
  v_ring = (f & 1) != 0 ? 1.0 : (f & 2) != 0 ? 0.5 : (f & 4) != 0 ? 0.75 : 0.0;
}`;
const FS = `#version 300 es
precision mediump float;
in vec4 v_col; in float v_ring; out vec4 o;
void main() {
  vec2 d = gl_PointCoord * 2.0 - 1.0; float r = dot(d, d);
  if (r > 1.0) discard;
  vec3 c = v_col.rgb;
  if (v_ring > 0.0 && r > 0.45) c = v_ring > 0.9 ? vec3(0.0) : v_ring > 0.6 ? vec3(0.85, 0.1, 0.1) : vec3(0.2);
  float a = v_ring > 0.0 ? 1.0 : v_col.a;
  o = vec4(c * a, a);
}`;
const DVS = `#version 300 es
in vec2 a_q; uniform vec2 u_center; uniform vec2 u_fit; uniform float u_scale; out vec2 v_q;
void main() { v_q = a_q; gl_Position = vec4((a_q - u_center) * 2.0 * u_scale * u_fit, 0.0, 1.0); }`;
const DFS = `#version 300 es
precision mediump float; in vec2 v_q; uniform sampler2D u_density; out vec4 o;
void main() { float d = texture(u_density, v_q).r; o = vec4(vec3(0.23, 0.30, 0.42) * d * 0.30, d * 0.30); }`;

function hex(c) { const v = parseInt(c.slice(1), 16); return [v >> 16, (v >> 8) & 255, v & 255, 255]; }
function ramp(stops, t) {
  const x = t * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  const a = hex(stops[i]), b = hex(stops[i + 1]);
  return [0, 1, 2].map(j => Math.round(a[j] + (b[j] - a[j]) * f)).concat(255);
}
function compile(gl, vs, fs) {
  const p = gl.createProgram();
  for (const [type, src] of [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fs]]) {
    const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    gl.attachShader(p, s);
  }
  gl.linkProgram(p);
  return p;
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Parse a payload: the header and, per panel, typed arrays over one aligned copy of the bytes (the texts stay
 * compressed: see unpackTexts). */
function parse(bytes) {
  const buf = bytes.slice().buffer, dv = new DataView(buf);
  const n0 = dv.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n0)));
  let off = 8 + n0;
  for (const p of header.panels) {
    const n = p.n, take = (Type, count) => { const a = new Type(buf, off, count); off += a.byteLength; return a; };
    p.x = take(Uint16Array, n); p.y = take(Uint16Array, n); p.lang = take(Uint16Array, n);
    p.cat = take(Uint8Array, n);
    p.values = { diversity: take(Uint8Array, n), norm: take(Uint8Array, n), frequency: take(Uint8Array, n) };
    p.density = take(Uint8Array, header.grid * header.grid);
    p.textColumn = take(Uint8Array, p.text_bytes);
    off += (4 - (off % 4)) % 4;
    p.ux = new Float32Array(n); p.uy = new Float32Array(n);
    for (let i = 0; i < n; i++) { p.ux[i] = p.x[i] / 65535; p.uy[i] = p.y[i] / 65535; }
  }
  return header;
}

/** A panel's texts and glosses ("" for none) from their gzip column, by the browser's own DecompressionStream.
 * Done after the first frame: the points are drawn before the 250k texts of a large vocabulary are read. */
async function unpackTexts(p) {
  const stream = new Blob([p.textColumn]).stream().pipeThrough(new DecompressionStream("gzip"));
  const lines = (await new Response(stream).text()).split("\n");
  p.texts = lines.slice(0, p.n); p.glosses = lines.slice(p.n);
}

/** A counting-sort grid over the unit square: the points near a position without scanning them all. */
function index(p) {
  const cell = new Uint32Array(p.n), start = new Uint32Array(GRID * GRID + 1);
  for (let i = 0; i < p.n; i++) {
    cell[i] = Math.min(GRID - 1, (p.uy[i] * GRID) | 0) * GRID + Math.min(GRID - 1, (p.ux[i] * GRID) | 0);
    start[cell[i] + 1]++;
  }
  for (let c = 0; c < GRID * GRID; c++) start[c + 1] += start[c];
  const items = new Uint32Array(p.n), fill = start.slice(0, GRID * GRID);
  for (let i = 0; i < p.n; i++) items[fill[cell[i]]++] = i;
  return { start, items };
}

class Panel {
  constructor(map, meta, box) {
    Object.assign(this, { map, meta, n: meta.n, view: { cx: 0.5, cy: 0.5, s: 1 } });
    this.flags = new Uint8Array(this.n);
    this.near = []; this.marks = []; this.ring = -1;
    const head = el("div", "head");
    const unplaced = meta.unplaced ? `; ${meta.unplaced.toLocaleString("en")} without a position in this layout` : "";
    head.append(el("b", "", meta.label), el("span", "count", ` ${meta.n.toLocaleString("en")} tokens mapped${unplaced}`));
    this.stage = el("div", "stage");
    this.canvas = el("canvas"); this.overlay = el("canvas", "overlay");
    this.stage.append(this.canvas, this.overlay);
    box.append(head, this.stage);
    this.stage.dataset.slug = meta.slug;
    const gl = (this.gl = this.canvas.getContext("webgl2", { antialias: false, premultipliedAlpha: true }));
    this.prog = compile(gl, VS, FS); this.dprog = compile(gl, DVS, DFS);
    this.buffers = {};
    for (const [name, arr, type, norm] of [["a_x", meta.x, gl.UNSIGNED_SHORT, true], ["a_y", meta.y, gl.UNSIGNED_SHORT, true],
      ["a_c", meta.cat, gl.UNSIGNED_BYTE, false], ["a_f", this.flags, gl.UNSIGNED_BYTE, false]]) {
      const b = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, b); gl.bufferData(gl.ARRAY_BUFFER, arr, gl.DYNAMIC_DRAW);
      this.buffers[name] = { b, type, norm };
    }
    this.lut = gl.createTexture();
    this.dtex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, this.dtex);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.R8, map.header.grid, map.header.grid, 0, gl.RED, gl.UNSIGNED_BYTE, meta.density);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    this.quad = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, this.quad);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), gl.STATIC_DRAW);
    this.listen();
  }
  /** The hover index, built at the first hover or click (not before the first frame). */
  get grid() { return (this.hoverIndex ||= index(this.meta)); }
  byText() {
    if (!this.textRows) {
      this.textRows = new Map();
      this.meta.texts.forEach((t, i) => { const r = this.textRows.get(t); r ? r.push(i) : this.textRows.set(t, [i]); });
    }
    return this.textRows;
  }
  fit() {
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight, m = Math.min(w, h) * 0.94;
    return [m / w, m / h];
  }
  toUnit(px, py) {
    const [fx, fy] = this.fit(), w = this.canvas.clientWidth, h = this.canvas.clientHeight, v = this.view;
    return [v.cx + (px / w * 2 - 1) / (2 * v.s * fx), v.cy + (1 - py / h * 2) / (2 * v.s * fy)];
  }
  toScreen(ux, uy) {
    const [fx, fy] = this.fit(), w = this.canvas.clientWidth, h = this.canvas.clientHeight, v = this.view;
    return [((ux - v.cx) * 2 * v.s * fx + 1) * w / 2, (1 - (uy - v.cy) * 2 * v.s * fy) * h / 2];
  }
  pick(px, py, radius = 8) {
    const [ux, uy] = this.toUnit(px, py), [fx] = this.fit(), perUnit = this.canvas.clientWidth * this.view.s * fx;
    const r = radius / perUnit, g = this.grid;
    let best = -1, bestD = r * r;
    const c0 = Math.max(0, ((ux - r) * GRID) | 0), c1 = Math.min(GRID - 1, ((ux + r) * GRID) | 0);
    const r0 = Math.max(0, ((uy - r) * GRID) | 0), r1 = Math.min(GRID - 1, ((uy + r) * GRID) | 0);
    for (let row = r0; row <= r1; row++) for (let col = c0; col <= c1; col++) {
      const c = row * GRID + col;
      for (let k = g.start[c]; k < g.start[c + 1]; k++) {
        const i = g.items[k];
        if (this.flags[i] & FLAG.hidden) continue;
        const dx = this.meta.ux[i] - ux, dy = this.meta.uy[i] - uy, d = dx * dx + dy * dy;
        if (d < bestD) { bestD = d; best = i; }
      }
    }
    return best;
  }
  lassoRows(poly) {
    const xs = poly.map(p => p[0]), ys = poly.map(p => p[1]);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const out = [], ux = this.meta.ux, uy = this.meta.uy;
    for (let i = 0; i < this.n; i++) {
      const x = ux[i], y = uy[i];
      if (x < x0 || x > x1 || y < y0 || y > y1 || (this.flags[i] & FLAG.hidden)) continue;
      let inside = false;
      for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
        const [xa, ya] = poly[a], [xb, yb] = poly[b];
        if ((ya > y) !== (yb > y) && x < (xb - xa) * (y - ya) / (yb - ya) + xa) inside = !inside;
      }
      if (inside) out.push(i);
    }
    return out;
  }
  listen() {
    const s = this.overlay;
    let drag = null;
    s.addEventListener("pointerdown", e => {
      s.setPointerCapture(e.pointerId);
      drag = { x: e.offsetX, y: e.offsetY, moved: 0, lasso: e.shiftKey || this.map.lassoMode ? [this.toUnit(e.offsetX, e.offsetY)] : null };
    });
    s.addEventListener("pointermove", e => {
      if (!drag) return this.map.hover(this, e.offsetX, e.offsetY);
      drag.moved += Math.abs(e.movementX) + Math.abs(e.movementY);
      if (drag.lasso) { drag.lasso.push(this.toUnit(e.offsetX, e.offsetY)); this.lasso = drag.lasso; this.paint(); return; }
      const [fx, fy] = this.fit();
      this.view.cx -= (e.offsetX - drag.x) / this.canvas.clientWidth / (this.view.s * fx);
      this.view.cy += (e.offsetY - drag.y) / this.canvas.clientHeight / (this.view.s * fy);
      drag.x = e.offsetX; drag.y = e.offsetY;
      this.map.hideTip(); this.map.moved(this);
    });
    s.addEventListener("pointerup", e => {
      const d = drag; drag = null; this.lasso = null;
      if (!d) return;
      if (d.lasso && d.lasso.length > 2 && d.moved > 6) this.map.select(this, this.lassoRows(d.lasso));
      else if (d.moved < 4) { const i = this.pick(e.offsetX, e.offsetY); this.map.select(this, i < 0 ? [] : [i]); }
      this.paint();
    });
    s.addEventListener("pointerleave", () => this.map.hideTip());
    s.addEventListener("wheel", e => {
      e.preventDefault();
      const [ux, uy] = this.toUnit(e.offsetX, e.offsetY), v = this.view;
      const s1 = Math.min(400, Math.max(0.5, v.s * Math.exp(-e.deltaY * 0.0015)));
      v.cx = ux - (ux - v.cx) * v.s / s1; v.cy = uy - (uy - v.cy) * v.s / s1; v.s = s1;
      this.map.moved(this);
    }, { passive: false });
    s.addEventListener("dblclick", () => { this.view = { cx: 0.5, cy: 0.5, s: 1 }; this.map.moved(this); });
  }
  /** Colour the points by category or by a value; a value's ramp spans ``shared`` (every panel's range), so
   * that one colour means one value in every panel: each byte is read back to its value in this panel's range. */
  colour(mode, header, shared) {
    const gl = this.gl, lut = new Uint8Array(256 * 4);
    if (mode === "category") {
      delete this.stage.dataset.ramp;
      header.colours.forEach((c, i) => lut.set(hex(c), i * 4));
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.a_c.b); gl.bufferData(gl.ARRAY_BUFFER, this.meta.cat, gl.DYNAMIC_DRAW);
    } else {
      this.stage.dataset.ramp = `${shared.min} ${shared.max}`;  // the span this panel's colours map (tests read it)
      const r = this.meta.ranges[mode], span = (shared.max - shared.min) || 1;
      const value = i => (r.integral ? r.min + i : r.min + (i / 254) * (r.max - r.min));
      for (let i = 0; i < 255; i++)
        lut.set(ramp(header.ramp, Math.min(1, Math.max(0, (value(i) - shared.min) / span))), i * 4);
      lut.set([190, 190, 190, 255], 255 * 4);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.a_c.b); gl.bufferData(gl.ARRAY_BUFFER, this.meta.values[mode], gl.DYNAMIC_DRAW);
    }
    gl.bindTexture(gl.TEXTURE_2D, this.lut);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, lut);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  }
  /** Flag each point (selected, neighbour, marked, hidden); whether any flag changed (else no new frame is due). */
  setFlags(selected, only) {
    const f = new Uint8Array(this.n), cat = this.meta.cat;
    this.emphasised = this.marks.length + this.near.length + selected.length > 0;
    for (const i of this.marks) f[i] |= FLAG.mark;
    for (const i of this.near) f[i] |= FLAG.near;
    for (const i of selected) f[i] |= FLAG.sel;
    if (only >= 0) for (let i = 0; i < this.n; i++) if (cat[i] !== only && !(f[i] & FLAG.sel)) f[i] |= FLAG.hidden;
    this.selected = selected;
    this.stage.dataset.selected = String(selected.length);
    this.stage.dataset.near = String(this.near.length);
    this.stage.dataset.marks = String(this.marks.length);
    if (f.every((v, i) => v === this.flags[i])) return false;
    const gl = this.gl; gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.a_f.b); gl.bufferData(gl.ARRAY_BUFFER, f, gl.DYNAMIC_DRAW);
    this.flags = f;
    return true;
  }
  /** The canvas' size in device pixels; it differs from the drawing buffer's after a resize. */
  pixels() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    return [Math.max(1, Math.round(c.clientWidth * dpr)), Math.max(1, Math.round(c.clientHeight * dpr))];
  }
  draw() {
    const gl = this.gl, c = this.canvas, dpr = window.devicePixelRatio || 1, [w, h] = this.pixels();
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; this.overlay.width = w; this.overlay.height = h; }
    gl.viewport(0, 0, w, h); gl.clearColor(1, 1, 1, 1); gl.clear(gl.COLOR_BUFFER_BIT);
    gl.enable(gl.BLEND); gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    const v = this.view, fit = this.fit();
    if (this.map.shading) {
      gl.useProgram(this.dprog);
      gl.uniform2f(gl.getUniformLocation(this.dprog, "u_center"), v.cx, v.cy);
      gl.uniform2f(gl.getUniformLocation(this.dprog, "u_fit"), ...fit);
      gl.uniform1f(gl.getUniformLocation(this.dprog, "u_scale"), v.s);
      gl.activeTexture(gl.TEXTURE1); gl.bindTexture(gl.TEXTURE_2D, this.dtex);
      gl.uniform1i(gl.getUniformLocation(this.dprog, "u_density"), 1);
      const q = gl.getAttribLocation(this.dprog, "a_q");
      for (let l = 0; l < 4; l++) gl.disableVertexAttribArray(l);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.quad); gl.enableVertexAttribArray(q); gl.vertexAttribPointer(q, 2, gl.FLOAT, false, 0, 0);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4); gl.disableVertexAttribArray(q);
    }
    const p = this.prog; gl.useProgram(p);
    for (const [name, b] of Object.entries(this.buffers)) {
      const loc = gl.getAttribLocation(p, name);
      gl.bindBuffer(gl.ARRAY_BUFFER, b.b); gl.enableVertexAttribArray(loc); gl.vertexAttribPointer(loc, 1, b.type, b.norm, 0, 0);
    }
    gl.uniform2f(gl.getUniformLocation(p, "u_center"), v.cx, v.cy);
    gl.uniform2f(gl.getUniformLocation(p, "u_fit"), ...fit);
    gl.uniform1f(gl.getUniformLocation(p, "u_scale"), v.s);
    gl.uniform1f(gl.getUniformLocation(p, "u_size"), dpr * Math.min(7, Math.max(1.6, 1.2 + 0.9 * Math.log2(v.s + 1))));
    gl.uniform1f(gl.getUniformLocation(p, "u_dim"), this.map.dim ? 1 : 0);
    gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D, this.lut);
    gl.uniform1i(gl.getUniformLocation(p, "u_lut"), 0);
    for (const pass of this.emphasised ? [0, 1] : [0]) { gl.uniform1i(gl.getUniformLocation(p, "u_pass"), pass); gl.drawArrays(gl.POINTS, 0, this.n); }
    this.paint();
  }
  /** The 2-D overlay: the clusters' labels, the searched token's ring, the lasso being drawn, labels of a few
   * selected tokens. */
  paint() {
    const o = this.overlay, ctx = o.getContext("2d"), dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0); ctx.clearRect(0, 0, o.width, o.height);
    this.paintLabels(ctx);
    if (this.lasso) {
      ctx.beginPath(); this.lasso.forEach(([ux, uy], j) => ctx[j ? "lineTo" : "moveTo"](...this.toScreen(ux, uy)));
      ctx.closePath(); ctx.fillStyle = "rgba(31,119,180,0.08)"; ctx.fill(); ctx.strokeStyle = "#1f77b4"; ctx.stroke();
    }
    if (this.ring >= 0) {
      const [x, y] = this.toScreen(this.meta.ux[this.ring], this.meta.uy[this.ring]);
      ctx.beginPath(); ctx.arc(x, y, 14, 0, 2 * Math.PI); ctx.lineWidth = 2.5; ctx.strokeStyle = "#d62728"; ctx.stroke();
    }
    const few = this.meta.texts && (this.selected || []).length <= 12 ? this.selected || [] : [];
    ctx.font = LABEL_FONT;
    ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,0.9)"; ctx.fillStyle = "#111";
    for (const i of few) {
      const [x, y] = this.toScreen(this.meta.ux[i], this.meta.uy[i]);
      ctx.strokeText(this.meta.texts[i], x + 8, y - 6); ctx.fillText(this.meta.texts[i], x + 8, y - 6);
    }
  }
  /** The clusters' labels (mapdata.cluster_labels: each category's crowd, its share there and its most frequent
   * tokens), largest first; a label that would cover one already drawn, or whose crowd is out of view, is left
   * out. With a category isolated in the legend, only its labels; faint while a selection is lit. */
  paintLabels(ctx) {
    const shown = [], w = this.canvas.clientWidth, h = this.canvas.clientHeight, map = this.map;
    if (map.labelling) {
      const only = map.only >= 0 ? map.header.categories[map.only] : null;
      ctx.globalAlpha = map.dim ? 0.35 : 1;
      for (const label of this.meta.labels || []) {
        if (only && label.category !== only) continue;
        const head = `${label.category} ${Math.round(label.share * 100)}%`, tokens = label.tokens.join("  ");
        ctx.font = LABEL_FONT_HEAD; const wHead = ctx.measureText(head).width;
        ctx.font = LABEL_FONT; const wTokens = ctx.measureText(tokens).width;
        const [x, y] = this.toScreen(label.x, label.y), bw = Math.max(wHead + 14, wTokens) + 10, bh = tokens ? 34 : 20;
        if (x < 0 || y < 0 || x > w || y > h || bw > w - 4) continue;  // its crowd is out of view (zoomed in)
        const left = Math.min(Math.max(x - bw / 2, 2), w - 2 - bw), top = Math.min(Math.max(y - bh / 2, 2), h - 2 - bh);
        const box = [left, top, left + bw, top + bh];  // centred on its crowd, moved inside the panel at an edge
        if (shown.some(({ box: b }) => b[0] < box[2] + 2 && box[0] < b[2] + 2 && b[1] < box[3] + 2 && box[1] < b[3] + 2))
          continue;
        shown.push({ category: label.category, box });
        const colour = map.header.colours[map.header.categories.indexOf(label.category)] || "#999";
        ctx.fillStyle = "rgba(255,255,255,0.86)"; ctx.strokeStyle = colour; ctx.lineWidth = 1.5;
        ctx.beginPath(); ctx.roundRect(box[0], box[1], bw, bh, 4); ctx.fill(); ctx.stroke();
        ctx.fillStyle = colour; ctx.beginPath(); ctx.arc(box[0] + 10, box[1] + 10, 4, 0, 2 * Math.PI); ctx.fill();
        ctx.fillStyle = "#111"; ctx.textBaseline = "middle"; ctx.textAlign = "left";
        ctx.font = LABEL_FONT_HEAD; ctx.fillText(head, box[0] + 19, box[1] + 10.5);
        ctx.font = LABEL_FONT; ctx.fillStyle = "#333";
        if (tokens) ctx.fillText(tokens, box[0] + 5, box[1] + 25);
      }
      ctx.globalAlpha = 1; ctx.textBaseline = "alphabetic";
    }
    // what was drawn, for the tests: each label's category and box in the panel's CSS pixels
    this.stage.dataset.labels = JSON.stringify(shown.map(({ category, box }) => ({ category, box: box.map(Math.round) })));
  }
  flyTo(i) {
    const from = { ...this.view }, to = { cx: this.meta.ux[i], cy: this.meta.uy[i], s: Math.max(from.s, 12) };
    const t0 = performance.now(), step = now => {
      const t = Math.min(1, (now - t0) / 450), e = t * t * (3 - 2 * t);
      this.view = { cx: from.cx + (to.cx - from.cx) * e, cy: from.cy + (to.cy - from.cy) * e, s: from.s * Math.pow(to.s / from.s, e) };
      this.map.moved(this);
      if (t < 1) requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }
}

class WebMap {
  constructor(root, bytes, setState) {
    this.root = root; this.setState = setState;
    const t0 = performance.now();
    this.header = parse(bytes); this.signature = this.header.signature;
    const parsed = performance.now();
    this.colourMode = "category"; this.only = -1; this.sel = null; this.shading = true; this.lassoMode = false;
    this.labelling = true;
    this.frames = []; this.dirty = new Set(); this.appliedInit = false; this.focus = null;
    root.replaceChildren();
    this.legend = el("div", "legend"); this.grid = el("div", "panels"); this.tip = el("div", "tip");
    this.tip.hidden = true;
    root.append(this.legend, this.grid, this.tip);
    this.panels = this.header.panels.map(m => new Panel(this, m, this.grid.appendChild(el("div", "panel"))));
    this.drawLegend();
    this.recolour();
    new ResizeObserver(() => this.panels.forEach(p => {
      const [w, h] = p.pixels();
      if (p.canvas.width !== w || p.canvas.height !== h) this.moved(p, false);
    })).observe(this.grid);
    BUS.maps.add(this);
    if (BUS.link) this.onLink(BUS.link);
    const built = performance.now(), stats = (globalThis.__hpMapStats = { frames: this.frames, bytes: bytes.byteLength,
      points: this.panels.reduce((a, p) => a + p.n, 0), arrivedMs: t0, parseMs: parsed - t0, buildMs: built - parsed });
    // the texts after the first frame (whose requestAnimationFrame came first), so they never delay the points
    requestAnimationFrame(() => setTimeout(() => Promise.all(this.header.panels.map(unpackTexts)).then(() => {
      stats.textsMs = performance.now() - built; this.hasTexts = true; this.refresh();
    })));
  }
  get dim() { return this.sel !== null && this.sel.rows.length > 0; }
  drawLegend() {
    const h = this.header, counts = new Array(h.categories.length).fill(0);
    for (const p of this.panels) for (let i = 0; i < p.n; i++) counts[p.meta.cat[i]]++;
    const bar = el("div", "chips");
    h.categories.forEach((name, i) => {
      if (!counts[i]) return;
      const chip = el("button", "chip"); chip.type = "button"; chip.dataset.category = name;
      const dot = el("span", "dot"); dot.style.background = h.colours[i];
      chip.append(dot, el("span", "", name));
      chip.title = `${counts[i].toLocaleString("en")} tokens; click to show only ${name}, again to show all`;
      chip.onclick = () => { this.only = this.only === i ? -1 : i; this.refresh(); this.report(); };
      bar.append(chip);
    });
    const tools = el("div", "tools");
    const shade = el("label", "", ""); const box = el("input"); box.type = "checkbox"; box.checked = true;
    box.onchange = () => { this.shading = box.checked; this.panels.forEach(p => this.moved(p, false)); };
    shade.append(box, document.createTextNode(" density"));
    const named = el("label", "", ""), names = el("input"); names.type = "checkbox"; names.checked = true;
    names.onchange = () => { this.labelling = names.checked; this.panels.forEach(p => p.paint()); };
    named.title = "Each category's crowd: its share of the tokens there and its most frequent tokens";
    named.append(names, document.createTextNode(" labels"));
    const lasso = el("button", "chip lasso", "lasso"); lasso.type = "button";
    lasso.title = "Draw around tokens to select them (or hold Shift while dragging)";
    lasso.onclick = () => { this.lassoMode = !this.lassoMode; lasso.classList.toggle("on", this.lassoMode); };
    this.rampBox = el("div", "ramp");
    tools.append(lasso, shade, named, this.rampBox);
    this.legend.append(bar, tools);
  }
  recolour() {
    const mode = this.colourMode;
    const r = mode === "category" ? [] : this.header.panels.map(p => p.ranges[mode]);
    const lo = Math.min(...r.map(x => x.min)), hi = Math.max(...r.map(x => x.max));
    this.panels.forEach(p => p.colour(mode, this.header, { min: lo, max: hi }));
    this.rampBox.replaceChildren();
    if (mode !== "category") {
      const g = el("span", "gradient"); g.style.background = `linear-gradient(90deg, ${this.header.ramp.join(",")})`;
      const fmt = v => (Number.isInteger(v) ? String(v) : v.toPrecision(3));
      this.rampBox.append(el("span", "", `${mode} ${fmt(lo)}`), g, el("span", "", fmt(hi)));
    }
    this.panels.forEach(p => this.moved(p, false));
  }
  /** Flags from the selection (its texts lit in the other panels once the texts are unpacked) and the legend. */
  refresh() {
    const texts = this.sel && this.hasTexts ? new Set(this.sel.rows.map(i => this.sel.panel.meta.texts[i])) : null;
    for (const p of this.panels) {
      let rows = [];
      if (this.sel) rows = p === this.sel.panel ? this.sel.rows : [...texts || []].flatMap(t => p.byText().get(t) || []);
      if (p.setFlags(rows, this.only)) this.moved(p, false);
    }
    for (const chip of this.legend.querySelectorAll(".chips .chip"))
      chip.classList.toggle("off", this.only >= 0 && chip.dataset.category !== this.header.categories[this.only]);
    this.root.dataset.selection = this.sel ? `${this.sel.panel.meta.slug}:${this.sel.rows.length}` : "";
  }
  select(panel, rows) {
    this.sel = rows.length ? { panel, rows } : null;
    this.panels.forEach(p => { if (p.ring >= 0) this.moved(p, false); p.near = []; p.ring = -1; });
    this.refresh(); this.report();
  }
  hover(panel, px, py) {
    if (this.hoverFrame) return;
    this.hoverFrame = requestAnimationFrame(() => {
      this.hoverFrame = 0;
      const i = panel.pick(px, py);
      if (i < 0) return this.hideTip();
      const m = panel.meta, t = this.tip, text = m.texts ? m.texts[i] : "…", gloss = m.glosses && m.glosses[i];
      t.replaceChildren(el("div", "token", text),
        el("div", "", `${this.header.categories[m.cat[i]]} · ${m.languages[m.lang[i]] || "no language"}`),
        ...(gloss ? [el("div", "gloss", `“${gloss}”`)] : []));
      const r = panel.stage.getBoundingClientRect(), root = this.root.getBoundingClientRect();
      t.style.left = `${Math.min(r.left - root.left + px + 14, root.width - 180)}px`;
      t.style.top = `${r.top - root.top + py + 14}px`;
      t.hidden = false; this.root.dataset.hover = text;
    });
  }
  hideTip() { this.tip.hidden = true; }
  moved(panel, byUser = true) {
    this.dirty.add(panel);
    if (!this.frame) this.frame = requestAnimationFrame(now => {
      this.frame = 0;
      const t0 = performance.now();
      for (const p of this.dirty) p.draw();
      this.dirty.clear();
      this.frames.push({ at: now, ms: performance.now() - t0 });
      if (this.frames.length > 2000) this.frames.splice(0, 1000);
    });
    if (byUser) { clearTimeout(this.viewTimer); this.viewTimer = setTimeout(() => this.report(), 600); }
  }
  report() {
    const r = v => Math.round(v * 1e4) / 1e4;
    this.setState("view", {
      selection: this.sel ? { panel: this.sel.panel.meta.slug, rows: this.sel.rows } : null,
      only: this.only >= 0 ? this.header.categories[this.only] : null,
      zoom: Object.fromEntries(this.panels.filter(p => p.view.s !== 1 || p.view.cx !== 0.5 || p.view.cy !== 0.5)
        .map(p => [p.meta.slug, [r(p.view.cx), r(p.view.cy), r(p.view.s)]])),
    });
  }
  /** What Python sent through the link component: colour, the URL's view (once), search, neighbours, marks. */
  onLink(link) {
    if (!link || link.signature !== this.signature) return;
    const bySlug = Object.fromEntries(this.panels.map(p => [p.meta.slug, p]));
    if (link.colour && link.colour !== this.colourMode) { this.colourMode = link.colour; this.recolour(); }
    if (!this.appliedInit && link.init) {
      this.appliedInit = true;
      const { selection, only, zoom } = link.init;
      this.only = only ? this.header.categories.indexOf(only) : -1;
      for (const [slug, [cx, cy, s]] of Object.entries(zoom || {})) if (bySlug[slug]) bySlug[slug].view = { cx, cy, s };
      if (selection && bySlug[selection.panel]) this.sel = { panel: bySlug[selection.panel], rows: selection.rows };
    }
    if (link.focus && link.focus.key !== (this.focus && this.focus.key)) {
      this.focus = link.focus;
      const first = this.panels.find(p => link.focus.rows[p.meta.slug] !== undefined);
      if (first) this.sel = { panel: first, rows: [link.focus.rows[first.meta.slug]] };
      for (const p of this.panels) {
        const i = link.focus.rows[p.meta.slug];
        p.ring = i === undefined ? -1 : i;
        if (i !== undefined) p.flyTo(i);
      }
      this.report();
    }
    const key = this.sel ? `${this.sel.panel.meta.slug}:${this.sel.rows.length}:${this.sel.rows[0]}` : "";
    for (const p of this.panels) {
      p.near = link.neighbours && link.neighbours.key === key ? link.neighbours.rows[p.meta.slug] || [] : [];
      p.marks = (link.marks || {})[p.meta.slug] || [];
    }
    this.refresh();
  }
}

/** The address of ``path`` (relative to the app's base URL) from this page's address: the page's own URL
 * path (``page``) taken off its end, so that a dashboard under a prefix (``/hp/map`` behind nginx) finds it
 * under the same prefix, whether or not a proxy strips it before the server. */
function resolve(path, page) {
  const here = location.pathname.replace(/\/+$/, "");
  const base = here.endsWith(`/${page}`) ? here.slice(0, -page.length) : `${here}/`;
  return new URL(path, location.origin + base).href;
}

/** A line in place of the panels while the payload is fetched, or what went wrong (never a blank panel). */
function status(root, text, failed = false) {
  const box = el("div", failed ? "status failed" : "status", text);
  if (failed) {
    const again = el("button", "chip", "Reload the page"); again.type = "button"; again.onclick = () => location.reload();
    box.append(again);
  }
  root.replaceChildren(box);
  root.dataset.status = failed ? "failed" : "loading";
}

/** Fetch the payload at ``data.url`` and draw it, unless a newer payload was asked for meanwhile. */
async function load(root, data) {
  const url = resolve(data.url, data.page);
  root.__want = url;
  status(root, "Loading every token of the map…");
  let bytes;
  try {
    const response = await fetch(url);
    if (!response.ok) {
      const why = response.headers.get("content-type")?.startsWith("text/plain") ? await response.text() : "";
      throw new Error(`HTTP ${response.status}. ${why || "Reload the page to ask for it again."}`);
    }
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    if (root.__want === url) status(root, `The map's points could not be loaded: ${e.message}`, true);
    return;
  }
  if (root.__want !== url) return;
  if (root.__map) BUS.maps.delete(root.__map);
  delete root.dataset.status;
  root.__map = new WebMap(root, bytes, root.__setState);
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const root = parentElement.querySelector(".hpmap");
  if (!data || !root) return;
  root.__setState = setStateValue;
  if (root.__map) root.__map.setState = setStateValue;
  if (data.url) {  // the address of the payload: fetched once per payload (the browser caches it)
    // again after a failure: this rerun has packed the payload anew on the server
    if (root.__want !== resolve(data.url, data.page) || root.dataset.status === "failed") load(root, data);
    return;
  }
  const sig = new TextDecoder().decode(data.subarray(8, 8 + 200)).match(/"signature": "([^"]*)"/);
  if (!root.__map || !sig || root.__map.signature !== sig[1]) {
    if (root.__map) BUS.maps.delete(root.__map);
    root.__map = new WebMap(root, data, setStateValue);
  }
}
