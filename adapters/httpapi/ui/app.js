// The live sale page: polls GET /ui/stats (this instance's figures) once a
// second and renders them; the lookup box renders a saga's timeline from
// GET /orders/{id}, or GET /sagas/{id}/events for a saga ID. No framework,
// nothing from another origin; the CSP forbids inline script and style, so
// everything is built with DOM calls and text nodes (never innerHTML:
// product names and reasons come from the server).
'use strict';

(function () {
  const root = document.getElementById('live');
  const byId = (id) => document.getElementById(id);
  const POLL_MS = 1000;
  let updates = 0;

  // el builds an element with attributes and children (strings become
  // text nodes).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      e.setAttribute(k, v);
    }
    for (const c of children) {
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      e.setAttribute(k, String(v));
    }
    return e;
  }

  const fmt = new Intl.NumberFormat('en');
  const num = (n) => fmt.format(n);
  const ms = (n) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
  const clock = (iso) => new Date(iso).toLocaleTimeString('en-GB', { hour12: false });
  const clockMs = (iso) => clock(iso) + '.' + String(new Date(iso).getMilliseconds()).padStart(3, '0');

  // fill replaces a table body's rows; empty is the text of a lone row
  // when there is none.
  function fill(table, rows, empty) {
    const body = byId(table).tBodies[0];
    const cols = byId(table).tHead.rows[0].cells.length;
    if (rows.length === 0) {
      rows = [el('tr', { class: 'empty' }, el('td', { colspan: cols }, empty))];
    }
    body.replaceChildren(...rows);
  }

  // sparkline draws a series as bars, the largest the full height.
  function sparkline(series, outcome) {
    const w = 3;
    const h = 24;
    const top = Math.max(1, ...series);
    const s = svg('svg', { width: series.length * w, height: h, viewBox: `0 0 ${series.length * w} ${h}`, class: 'spark ' + outcome, role: 'img' });
    const title = svg('title');
    title.textContent = `${outcome} per second, last ${series.length} s (max ${top})`;
    s.append(title);
    series.forEach((v, i) => {
      if (v <= 0) return;
      const bh = Math.max(1, Math.round((v / top) * h));
      s.append(svg('rect', { x: i * w, y: h - bh, width: w - 0.5, height: bh }));
    });
    return s;
  }

  function render(st) {
    root.dataset.instance = st.instance;
    byId('instance').textContent = st.instance;

    const last = st.purchases.lastSecond || {};
    const totals = st.purchases.totals || {};
    const perSecond = st.purchases.perSecond || {};
    const rate = Object.values(last).reduce((a, b) => a + b, 0);
    const completed = totals.completed || 0;
    root.dataset.rate = String(rate);
    root.dataset.completed = String(completed);
    byId('rate').textContent = num(rate);
    byId('completed').textContent = num(completed);

    for (const dd of byId('sagas').querySelectorAll('dd[data-key]')) {
      dd.textContent = num(st.sagas[dd.dataset.key] || 0);
    }

    const note = byId('products-note');
    note.hidden = !st.productsNote;
    note.textContent = st.productsNote || '';
    fill('products', st.products.map((p) => el('tr', { 'data-product': p.id },
      el('td', { title: p.name }, el('span', { class: 'id' }, p.id), el('br'), el('span', { class: 'muted small' }, p.name)),
      el('td', { class: 'num' }, num(p.stock)), el('td', { class: 'num' }, num(p.available)),
      el('td', {}, el('meter', { min: 0, max: Math.max(p.stock, 1), value: p.available, title: `${p.available} of ${p.stock}` })),
    )), 'no products');

    const outcomes = Object.keys(totals).filter((o) => totals[o] > 0)
      .sort((a, b) => totals[b] - totals[a] || a.localeCompare(b));
    fill('outcomes', outcomes.map((o) => el('tr', { 'data-outcome': o },
      el('td', {}, o), el('td', { class: 'num' }, num(last[o] || 0)),
      el('td', {}, sparkline(perSecond[o] || [], o)), el('td', { class: 'num' }, num(totals[o])),
    )), 'no purchases yet');

    byId('step-window').textContent = `(last ${st.stepWindowSeconds} s)`;
    fill('steps', st.steps.map((s) => el('tr', {},
      el('td', {}, s.step), el('td', { class: 'num' }, num(s.count)),
      el('td', { class: s.errors > 0 ? 'num bad' : 'num' }, num(s.errors)),
      el('td', { class: 'num' }, ms(s.meanMs)), el('td', { class: 'num' }, ms(s.p50Ms)),
      el('td', { class: 'num' }, ms(s.p99Ms)), el('td', { class: 'num' }, ms(s.maxMs)),
    )), 'no saga step yet');

    fill('compensations', st.compensations.map((c) => {
      const link = el('a', { href: '#saga=' + encodeURIComponent(c.sagaId) }, c.sagaId);
      return el('tr', {}, el('td', {}, clock(c.at)),
        el('td', {}, el('span', { class: 'id' }, link), el('br'), el('span', { class: 'id muted' }, c.productId)),
        el('td', {}, c.reason));
    }), 'none');
  }

  async function poll() {
    try {
      const r = await fetch('stats', { cache: 'no-store', headers: { Accept: 'application/json' } });
      const body = await r.json();
      if (!r.ok) {
        byId('updated').textContent = `no stats: ${body.detail || r.status}`;
        return;
      }
      render(body);
      updates++;
      root.dataset.updates = String(updates);
      byId('updated').textContent = `updated ${clock(body.at)} · ${updates} updates`;
    } catch (e) {
      byId('updated').textContent = `stats unreachable (${e.message}); retrying`;
    } finally {
      // Chained, not an interval: a slow answer never stacks polls up.
      setTimeout(poll, POLL_MS);
    }
  }

  // timeline renders a saga's events: from an order (GET /orders/{id},
  // whose answer has the saga too) or, failing that, from a saga ID.
  async function lookup(kind, id) {
    const box = byId('timeline');
    box.dataset.state = 'loading';
    box.replaceChildren(el('p', { class: 'muted' }, `looking up ${id}…`));
    try {
      let order = null;
      let saga = null;
      let events = null;
      if (kind === 'order') {
        const r = await fetch('../orders/' + encodeURIComponent(id), { headers: { Accept: 'application/json' } });
        const body = await r.json();
        if (r.ok) {
          order = body.order;
          saga = body.saga;
          events = body.events;
        } else if (r.status !== 404) {
          throw new Error(body.detail || `HTTP ${r.status}`);
        }
      }
      if (events === null) {
        const r = await fetch('../sagas/' + encodeURIComponent(id) + '/events', { headers: { Accept: 'application/json' } });
        const body = await r.json();
        if (!r.ok) {
          throw new Error(r.status === 404 ? `no order or saga has the ID ${id}` : body.detail || `HTTP ${r.status}`);
        }
        events = body.events;
      }
      const head = [];
      if (order) {
        head.push(el('p', {}, 'order ', el('strong', { class: 'id' }, order.id), ` · ${order.status} · product `,
          el('span', { class: 'id' }, order.productId), ` × ${order.qty}`));
      }
      if (saga) {
        head.push(el('p', {}, 'saga ', el('strong', { class: 'id' }, saga.id), ` · ${saga.status}`,
          saga.reason ? ` · reason ${saga.reason}` : ''));
      } else if (events.length > 0) {
        head.push(el('p', {}, 'saga ', el('strong', { class: 'id' }, events[0].sagaId)));
      }
      const items = events.map((e) => el('li', { 'data-type': e.type },
        el('time', { datetime: e.at }, clockMs(e.at)), ' ', el('strong', {}, e.type),
        e.reason ? el('span', { class: 'reason' }, ` (${e.reason})`) : ''));
      box.replaceChildren(...head, el('ol', { class: 'events' }, ...items));
      box.dataset.state = 'shown';
    } catch (e) {
      box.replaceChildren(el('p', { class: 'bad' }, e.message));
      box.dataset.state = 'error';
    }
  }

  // The fragment names what to show: #order=<id> or #saga=<id>, so a
  // timeline can be linked to (and the compensations list links sagas).
  function fromHash() {
    const m = /^#(order|saga)=(.+)$/.exec(location.hash);
    if (!m) {
      return;
    }
    let id;
    try {
      id = decodeURIComponent(m[2]);
    } catch (e) { // a malformed link (a stray %): say so, keep the page live
      const box = byId('timeline');
      box.replaceChildren(el('p', { class: 'bad' }, 'not an ID: ' + m[2]));
      box.dataset.state = 'error';
      return;
    }
    byId('lookup-id').value = id;
    lookup(m[1], id);
  }

  byId('lookup').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = byId('lookup-id').value.trim();
    if (id !== '') {
      location.hash = 'order=' + encodeURIComponent(id);
    }
  });
  window.addEventListener('hashchange', fromHash);
  poll(); // first: nothing in the fragment can keep the figures from updating
  fromHash();
})();
