/* PREP (simulacro): a small single-page app written for prepsim.
 *
 * No framework and no external requests. It reads the JSON tree under
 * assets/JSON/PRESIDENTE/ (relative to <base href>, so the site works under
 * any base), shows the results in Spanish, and re-fetches the JSON of the
 * current view every 15 s, updating the page in place.
 *
 * Routes (path routes, like an Angular app; the server falls back to
 * index.html): ""  national, "entidad/07"  a state,
 * "entidad/07/distrito/03"  a district.
 *
 * Hooks for tests: #corte (text "Corte: 02/06/2024 22:15 (hora del centro)",
 * data-cut="02/06/2024 22:15", data-numero), #actas, #participacion and one
 * tr.partido per party with data-partido and data-votos.
 */
'use strict';

const REFRESH_MS = 15000;
const TIMEOUT_MS = 10000;
const JSON_ROOT = 'assets/JSON/PRESIDENTE/';
const ENTIDADES = [
  ['01', 'Aguascalientes'], ['02', 'Baja California'], ['03', 'Baja California Sur'],
  ['04', 'Campeche'], ['05', 'Coahuila'], ['06', 'Colima'], ['07', 'Chiapas'],
  ['08', 'Chihuahua'], ['09', 'Ciudad de México'], ['10', 'Durango'], ['11', 'Guanajuato'],
  ['12', 'Guerrero'], ['13', 'Hidalgo'], ['14', 'Jalisco'], ['15', 'México'],
  ['16', 'Michoacán'], ['17', 'Morelos'], ['18', 'Nayarit'], ['19', 'Nuevo León'],
  ['20', 'Oaxaca'], ['21', 'Puebla'], ['22', 'Querétaro'], ['23', 'Quintana Roo'],
  ['24', 'San Luis Potosí'], ['25', 'Sinaloa'], ['26', 'Sonora'], ['27', 'Tabasco'],
  ['28', 'Tamaulipas'], ['29', 'Tlaxcala'], ['30', 'Veracruz'], ['31', 'Yucatán'],
  ['32', 'Zacatecas'],
];
const NOMBRE_ENTIDAD = new Map(ENTIDADES);

const entero = new Intl.NumberFormat('es-MX');
const cuatro = new Intl.NumberFormat('es-MX', { minimumFractionDigits: 4, maximumFractionDigits: 4 });
const porciento = (x) => cuatro.format(Number(x) || 0) + ' %';

/* ---- tiny DOM helper ---- */
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/* ---- routes ---- */
function basePath() {
  return new URL(document.baseURI).pathname;
}

function routeFromLocation() {
  const base = basePath();
  let p = location.pathname;
  p = p.startsWith(base) ? p.slice(base.length) : p.replace(/^\/+/, '');
  const m = /^entidad\/(\d{2})(?:\/distrito\/(\d{2}))?\/?$/.exec(p);
  if (m && NOMBRE_ENTIDAD.has(m[1])) return { ent: m[1], dist: m[2] || null };
  return { ent: null, dist: null };
}

function routePath(r) {
  if (!r.ent) return '';
  return 'entidad/' + r.ent + (r.dist ? '/distrito/' + r.dist : '');
}

function jsonPath(r) {
  if (r.dist) return JSON_ROOT + 'DISTRITO/Presidente_DISTRITO_' + r.ent + '_' + r.dist + '.json';
  if (r.ent) return JSON_ROOT + 'ENTIDAD/Presidente_ENTIDAD_' + r.ent + '.json';
  return JSON_ROOT + 'NACIONAL/Presidente_NACIONAL.json';
}

const app = {
  route: routeFromLocation(),
  data: null,          // the JSON shown
  corte: '',           // "02/06/2024 22:15" of the data shown
  timer: 0,
  seq: 0,              // guards against a slow answer for a route left behind
  filas: new Map(),    // party id -> row elements
  distritos: new Map(), // state id -> its districts, from the state's JSON
  ui: {},
};

/* ---- skeleton, built once ---- */
function build(root) {
  const ui = app.ui;
  ui.root = root;
  ui.corteTime = h('time', { text: '--/--/---- --:--' });
  ui.corte = h('p', { id: 'corte', class: 'corte', 'data-cut': '' },
    'Corte: ', ui.corteTime, ' (hora del centro)');
  ui.estado = h('p', { id: 'estado', class: 'estado', role: 'status', 'aria-live': 'polite' },
    'Cargando…');
  ui.anio = h('span', { id: 'anio' });
  ui.eleccion = h('p', { id: 'eleccion', class: 'eleccion', text: 'Presidencia de la República' });

  ui.selEnt = h('select', { id: 'sel-entidad', onchange: () => go({ ent: ui.selEnt.value || null, dist: null }) },
    h('option', { value: '' }, 'Nacional (todas las entidades)'),
    ENTIDADES.map(([id, nombre]) => h('option', { value: id }, nombre)));
  ui.selDist = h('select', { id: 'sel-distrito', onchange: () => go({ ent: app.route.ent, dist: ui.selDist.value || null }) });
  ui.campoDist = h('div', { class: 'campo', hidden: true },
    h('label', { for: 'sel-distrito' }, 'Distrito federal'), ui.selDist);

  ui.ambito = h('h2', { id: 'ambito', class: 'ambito-titulo' }, 'Nacional');

  ui.actasValor = h('span', { class: 'valor' }, '–');
  ui.actasCap = h('span', { class: 'cap' }, '–');
  ui.actasEsp = h('span', { class: 'esp' }, '–');
  ui.actasCont = h('span', { class: 'cont' }, '–');
  ui.actasBarra = h('span');
  ui.actas = h('article', { id: 'actas', class: 'tarjeta', 'aria-labelledby': 't-actas' },
    h('h3', { id: 't-actas' }, 'Actas capturadas'),
    h('p', { class: 'cifra' }, ui.actasValor),
    h('div', { class: 'avance', 'aria-hidden': 'true' }, ui.actasBarra),
    h('p', { class: 'detalle' }, ui.actasCap, ' de ', ui.actasEsp, ' actas esperadas'),
    h('p', { class: 'detalle' }, 'Contabilizadas: ', ui.actasCont));

  ui.partValor = h('span', { class: 'valor' }, '–');
  ui.partLista = h('span', { class: 'lista' }, '–');
  ui.participacion = h('article', { id: 'participacion', class: 'tarjeta', 'aria-labelledby': 't-part' },
    h('h3', { id: 't-part' }, 'Participación ciudadana'),
    h('p', { class: 'cifra' }, ui.partValor),
    h('p', { class: 'detalle' }, 'Lista nominal de las actas contabilizadas: ', ui.partLista));

  ui.totalValor = h('span', { class: 'valor' }, '–');
  ui.total = h('article', { id: 'total', class: 'tarjeta', 'aria-labelledby': 't-total' },
    h('h3', { id: 't-total' }, 'Total de votos'),
    h('p', { class: 'cifra' }, ui.totalValor),
    h('p', { class: 'detalle' }, 'Incluye candidaturas no registradas y votos nulos'));

  ui.filas = h('tbody', { id: 'filas' });
  ui.subTitulo = h('h3', { id: 't-sub' }, 'Avance por entidad');
  ui.subCuerpo = h('tbody');
  ui.subCol = h('th', { scope: 'col' }, 'Entidad');
  ui.sub = h('section', { class: 'bloque', 'aria-labelledby': 't-sub' },
    ui.subTitulo,
    h('div', { class: 'desplazable' },
      h('table', { class: 'avance-tabla' },
        h('thead', {}, h('tr', {}, ui.subCol,
          h('th', { scope: 'col', class: 'num' }, 'Actas capturadas'),
          h('th', { scope: 'col', class: 'num opcional' }, 'Votos'),
          h('th', { scope: 'col' }, 'Primer lugar'))),
        ui.subCuerpo)));

  ui.descarga = h('a', { id: 'descarga', href: '#', download: '' }, 'Descargar la base de datos (CSV)');

  root.replaceChildren(
    h('header', { class: 'cabecera' },
      h('div', { class: 'franja' },
        h('div', { class: 'contenedor franja-in' }, ui.corte, ui.estado)),
      h('div', { class: 'contenedor titulo' },
        h('p', { class: 'sello' }, 'SIMULACRO · datos ficticios'),
        h('h1', {}, 'Resultados Electorales Preliminares ', ui.anio),
        ui.eleccion)),
    h('main', { id: 'contenido', class: 'contenedor' },
      h('div', { class: 'ambito', role: 'group', 'aria-label': 'Ámbito de los resultados' },
        h('div', { class: 'campo' }, h('label', { for: 'sel-entidad' }, 'Entidad federativa'), ui.selEnt),
        ui.campoDist),
      ui.ambito,
      h('section', { class: 'resumen', 'aria-label': 'Avance del conteo' }, ui.actas, ui.participacion, ui.total),
      h('section', { class: 'bloque', 'aria-labelledby': 't-votos' },
        h('h3', { id: 't-votos' }, 'Votos por partido político'),
        h('table', { class: 'resultados' },
          h('caption', { class: 'oculto' }, 'Votos y porcentaje de cada partido político en el ámbito elegido'),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Partido político'),
            h('th', { scope: 'col', class: 'num' }, 'Votos'),
            h('th', { scope: 'col', class: 'num' }, 'Porcentaje'))),
          ui.filas)),
      ui.sub),
    h('footer', { class: 'pie' },
      h('div', { class: 'contenedor' },
        h('p', {}, ui.descarga),
        h('p', {}, 'Los resultados preliminares son informativos y no tienen efectos jurídicos. ',
          'Este sitio es un simulacro: los datos son ficticios.'))));
}

/* ---- rendering ---- */
function setText(e, t) {
  if (e.textContent !== t) e.textContent = t;
}

function renderCorte(d) {
  const ui = app.ui;
  const c = d.ultimoCorte || {};
  const corte = (c.fecha || '--/--/----') + ' ' + (c.hora || '--:--');
  setText(ui.corteTime, corte);
  if (c.iso) ui.corteTime.setAttribute('datetime', c.iso);
  ui.corte.dataset.cut = corte;
  if (c.numero !== undefined) ui.corte.dataset.numero = String(c.numero);
  const nuevo = app.corte && app.corte !== corte;
  app.corte = corte;
  return nuevo;
}

function renderPartidos(d) {
  const ui = app.ui;
  const votos = Array.isArray(d.votos) ? d.votos : [];
  const ids = votos.map((v) => v.id).join(',');
  if (ids !== [...app.filas.keys()].join(',')) {
    app.filas.clear();
    ui.filas.replaceChildren();
    for (const v of votos) {
      const f = {
        votos: h('td', { class: 'num votos' }),
        pct: h('td', { class: 'num pct' }),
        barra: h('span', { style: 'background-color:' + (v.color || '#666') }),
      };
      f.tr = h('tr', { class: 'partido' + (v.tipo === 'otro' ? ' otro' : ''), 'data-partido': v.id },
        h('th', { scope: 'row' },
          h('span', { class: 'nombre-partido' },
            h('span', { class: 'muestra', style: 'background-color:' + (v.color || '#666'), 'aria-hidden': 'true' }),
            h('abbr', { class: 'siglas', title: v.nombre }, v.siglas || v.id),
            h('span', { class: 'nombre' }, v.nombre)),
          h('span', { class: 'barra', 'aria-hidden': 'true' }, f.barra)),
        f.votos, f.pct);
      app.filas.set(v.id, f);
      ui.filas.append(f.tr);
    }
  }
  for (const v of votos) {
    const f = app.filas.get(v.id);
    f.tr.dataset.votos = String(v.votos);
    setText(f.votos, entero.format(v.votos));
    setText(f.pct, porciento(v.porcentaje));
    f.barra.style.width = Math.max(0, Math.min(100, Number(v.porcentaje) || 0)) + '%';
  }
}

function renderResumen(d) {
  const ui = app.ui;
  const a = d.actas || {};
  const p = d.participacionCiudadana || {};
  setText(ui.actasValor, porciento(a.porcentajeCapturadas));
  setText(ui.actasCap, entero.format(a.capturadas || 0));
  setText(ui.actasEsp, entero.format(a.esperadas || 0));
  setText(ui.actasCont, entero.format(a.contabilizadas || 0) + ' (' + porciento(a.porcentajeContabilizadas) + ')');
  ui.actasBarra.style.width = Math.min(100, Number(a.porcentajeCapturadas) || 0) + '%';
  ui.actas.dataset.capturadas = String(a.capturadas || 0);
  ui.actas.dataset.esperadas = String(a.esperadas || 0);
  ui.actas.dataset.porcentaje = String(a.porcentajeCapturadas || 0);
  setText(ui.partValor, porciento(p.porcentaje));
  setText(ui.partLista, entero.format(p.listaNominal || 0));
  ui.participacion.dataset.porcentaje = String(p.porcentaje || 0);
  setText(ui.totalValor, entero.format(d.totalVotos || 0));
  ui.total.dataset.votos = String(d.totalVotos || 0);
}

function siglasDe(d, id) {
  const v = (d.votos || []).find((x) => x.id === id);
  return v ? (v.siglas || v.id) : '–';
}

function renderSub(d) {
  const ui = app.ui;
  const r = app.route;
  let lista = null;
  if (!r.ent && Array.isArray(d.entidades)) {
    setText(ui.subTitulo, 'Avance por entidad');
    setText(ui.subCol, 'Entidad');
    lista = d.entidades.map((e) => ({ ...e, ruta: { ent: e.id, dist: null } }));
  } else if (r.ent && !r.dist && Array.isArray(d.distritos)) {
    setText(ui.subTitulo, 'Avance por distrito');
    setText(ui.subCol, 'Distrito');
    lista = d.distritos.map((e) => ({ ...e, ruta: e.archivo ? { ent: r.ent, dist: e.id } : null }));
  }
  ui.sub.hidden = !lista;
  if (!lista) return;
  const filas = lista.map((e) => h('tr', {},
    h('th', { scope: 'row' }, e.ruta
      ? h('a', { href: routePath(e.ruta), onclick: (ev) => { ev.preventDefault(); go(e.ruta); } }, e.nombre)
      : e.nombre),
    h('td', { class: 'num' }, porciento(e.porcentajeActas)),
    h('td', { class: 'num opcional' }, entero.format(e.totalVotos || 0)),
    h('td', {}, e.primerLugar ? siglasDe(d, e.primerLugar) : '–')));
  ui.subCuerpo.replaceChildren(...filas);
}

function renderAmbito(d) {
  const ui = app.ui;
  const r = app.route;
  let titulo = 'Nacional';
  if (r.ent) titulo = (d.entidad && d.entidad.nombre) || NOMBRE_ENTIDAD.get(r.ent);
  if (r.dist) titulo += ' · ' + ((d.distrito && d.distrito.nombre) || 'Distrito ' + r.dist);
  setText(ui.ambito, titulo);
  if (d.anio) setText(ui.anio, String(d.anio));
  if (d.eleccion) setText(ui.eleccion, d.eleccion + (d.proceso ? ' · ' + d.proceso : ''));
  if (d.baseDatos) ui.descarga.setAttribute('href', d.baseDatos);
  document.title = 'PREP ' + (d.anio || '') + ' · ' + titulo + ' · Corte ' + app.corte + ' (simulacro)';
}

function render(d) {
  const nuevo = renderCorte(d);
  if (d.ambito === 'ENTIDAD' && d.entidad && Array.isArray(d.distritos)) setDistritos(d.entidad.id, d.distritos);
  renderAmbito(d);
  renderResumen(d);
  renderPartidos(d);
  renderSub(d);
  return nuevo;
}

function setDistritos(ent, lista) {
  const ui = app.ui;
  app.distritos.set(ent, lista);
  if (app.route.ent !== ent) return;
  const con = lista.filter((x) => x.archivo);
  const key = ent + ':' + con.map((x) => x.id).join(',');
  if (ui.selDist.dataset.key !== key) {
    ui.selDist.replaceChildren(h('option', { value: '' }, 'Toda la entidad'),
      ...con.map((x) => h('option', { value: x.id }, x.nombre)));
    ui.selDist.dataset.key = key;
  }
  ui.selDist.value = app.route.dist || '';
}

function showDistritos() {
  const ui = app.ui;
  const ent = app.route.ent;
  ui.campoDist.hidden = !ent;
  if (!ent) return;
  // The state's JSON lists its districts; only those with a file are offered.
  const lista = app.distritos.get(ent);
  if (lista) {
    setDistritos(ent, lista);
  } else if (app.route.dist) {
    fetchJson(jsonPath({ ent, dist: null })).then((d) => setDistritos(ent, d.distritos || [])).catch(() => {});
  }
}

/* ---- fetching ---- */
async function fetchJson(path) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const res = await fetch(new URL(path, document.baseURI), {
      cache: 'no-cache', headers: { Accept: 'application/json' }, signal: ctl.signal,
    });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const d = await res.json();
    if (!d || !d.ultimoCorte || !Array.isArray(d.votos)) throw new Error('JSON incompleto');
    return d;
  } finally {
    clearTimeout(t);
  }
}

async function refresh() {
  const seq = ++app.seq;
  const ui = app.ui;
  const route = app.route;
  clearTimeout(app.timer);
  try {
    const d = await fetchJson(jsonPath(route));
    if (seq !== app.seq) return;
    app.data = d;
    const nuevo = render(d);
    if (nuevo) setText(ui.estado, 'Nuevo corte: ' + app.corte + '. Actualización automática cada 15 s.');
    else if (!ui.estado.dataset.ok) setText(ui.estado, 'Actualización automática cada 15 s.');
    ui.estado.dataset.ok = '1';
    ui.estado.classList.remove('error');
  } catch (e) {
    if (seq !== app.seq) return;
    delete ui.estado.dataset.ok;
    ui.estado.classList.add('error');
    if (route.dist && !app.data) {
      setText(ui.estado, 'No hay resultados de este distrito; se muestra la entidad.');
      go({ ent: route.ent, dist: null }, true);
      return;
    }
    setText(ui.estado, app.data
      ? 'No se pudo actualizar; se muestran los datos del corte ' + app.corte + '. Reintento en 15 segundos.'
      : 'No se pudieron cargar los resultados. Reintento en 15 segundos.');
  } finally {
    if (seq === app.seq) app.timer = setTimeout(refresh, REFRESH_MS);
  }
}

function go(route, replace) {
  const same = route.ent === app.route.ent && route.dist === app.route.dist;
  app.route = { ent: route.ent || null, dist: route.dist || null };
  const url = new URL(routePath(app.route), document.baseURI);
  if (!same) {
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    app.data = null;
  }
  app.ui.selEnt.value = app.route.ent || '';
  showDistritos();
  refresh();
}

function start() {
  const root = document.querySelector('app-root');
  if (!root) return;
  build(root);
  app.ui.selEnt.value = app.route.ent || '';
  showDistritos();
  window.addEventListener('popstate', () => {
    app.route = routeFromLocation();
    app.data = null;
    app.ui.selEnt.value = app.route.ent || '';
    showDistritos();
    refresh();
  });
  // A hidden tab catches up as soon as it is shown again.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refresh();
  });
  refresh();
}

start();
