// Shared pieces of the pages: loading with polling, errors, dialogs,
// charts (hand-written SVG: no chart library to ship) and formatting.
import type { ComponentChildren } from "preact";
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiError, type Bytes, type Session } from "./api";

export const SessionContext = createContext<Session | null>(null);
export function useSession(): Session {
  return useContext(SessionContext)!;
}
// Mutating controls are not shown in read-only mode.
export function useWritable(): boolean {
  return !useSession().read_only;
}

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

// Loads f() when deps change and, with every_ms, again on that period
// (skipped while a load is in flight, so a slow broker is not piled on).
export function useLoad<T>(f: () => Promise<T>, deps: unknown[], every_ms = 0): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const busy = useRef(false);
  const gen = useRef(0);
  const run = useCallback(() => {
    if (busy.current) return;
    busy.current = true;
    const g = gen.current;
    f().then(
      (d) => {
        if (g !== gen.current) return;
        setData(d);
        setError(null);
      },
      (e) => {
        if (g !== gen.current) return;
        setError(toApiError(e));
      },
    ).finally(() => {
      busy.current = false;
      if (g === gen.current) setLoading(false);
    });
    // eslint-disable-next-line
  }, deps);
  // A layout effect: the load starts as the page is put in, not a frame
  // later (useEffect waits for the next paint).
  useLayoutEffect(() => {
    gen.current++;
    busy.current = false;
    setLoading(true);
    setData(null);
    setError(null);
    run();
    if (!every_ms) return;
    const id = setInterval(run, every_ms);
    return () => clearInterval(id);
  }, [run, every_ms]);
  return { data, error, loading, reload: run };
}

export function toApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, "ERROR", String(e));
}

export function ErrorBox({ error }: { error: ApiError | null }) {
  if (!error) return null;
  return (
    <div class="error" role="alert" data-testid="error">
      <strong>{error.code}</strong>
      {error.status ? <span class="muted"> (HTTP {error.status})</span> : null}: {error.message}
    </div>
  );
}

export function Loading({ what }: { what: Loaded<unknown> }) {
  if (what.error) return <ErrorBox error={what.error} />;
  if (what.loading && !what.data) return <p class="muted" role="status">Loading…</p>;
  return null;
}

// A modal dialog (the native <dialog>: focus stays inside, Escape closes).
export function Modal(props: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  testid?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useRef("dlg-" + Math.random().toString(36).slice(2)).current;
  useEffect(() => {
    const d = ref.current!;
    if (!d.open) d.showModal();
    const close = () => props.onClose();
    d.addEventListener("close", close);
    return () => d.removeEventListener("close", close);
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={id} data-testid={props.testid}>
      <h2 id={id}>{props.title}</h2>
      {props.children}
    </dialog>
  );
}

// A button that asks before it acts; the action's error shows in the
// dialog, which closes once the action succeeded.
export function ConfirmButton(props: {
  label: string;
  title: string;
  message: ComponentChildren;
  confirmLabel?: string;
  danger?: boolean;
  testid?: string;
  action: () => Promise<unknown>;
  done?: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.action();
      setOpen(false);
      props.done && props.done();
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        class={props.danger ? "danger" : ""}
        data-testid={props.testid}
        onClick={() => {
          setError(null);
          setOpen(true);
        }}
      >
        {props.label}
      </button>
      {open && (
        <Modal title={props.title} onClose={() => setOpen(false)} testid="confirm-dialog">
          <div>{props.message}</div>
          <ErrorBox error={error} />
          <div class="actions">
            <button type="button" onClick={() => setOpen(false)} data-testid="confirm-cancel">
              Cancel
            </button>
            <button
              type="button"
              class={props.danger ? "danger" : "primary"}
              disabled={busy}
              onClick={go}
              data-testid="confirm-ok"
            >
              {props.confirmLabel || props.label}
            </button>
          </div>
        </Modal>
      )}
    </>
  );
}

// ---- formatting ----

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return (i ? v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0) : String(Math.round(v))) + " " + u[i];
}

// One formatter for every number: Number.toLocaleString builds one per
// call, which made the list of 1,000 topics slow to render.
const NUM = new Intl.NumberFormat("en-US");
export function fmtNum(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  return NUM.format(n);
}

export function fmtRate(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  return (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)) + "/s";
}

export function fmtMs(n: number | null | undefined): string {
  if (n === null || n === undefined || n < 0) return "–";
  return (n >= 10 ? n.toFixed(1) : n.toFixed(3)) + " ms";
}

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  if (ms < 0) return "unlimited";
  const s = ms / 1000;
  if (s < 60) return s + " s";
  if (s < 3600) return +(s / 60).toFixed(1) + " min";
  if (s < 86400 * 2) return +(s / 3600).toFixed(1) + " h";
  return +(s / 86400).toFixed(1) + " d";
}

export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || ms < 0) return "–";
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
  );
}

// Record bytes: null, UTF-8 text (pretty-printed when it is JSON) or hex.
export function bytesText(b: Bytes | null | undefined, pretty: boolean): string {
  if (!b || b.encoding === "null") return "null";
  if (b.encoding === "hex") return b.hex || "";
  const t = b.text ?? "";
  if (pretty) {
    const s = t.trimStart();
    if (s.startsWith("{") || s.startsWith("[")) {
      try {
        return JSON.stringify(JSON.parse(t), null, 2);
      } catch {
        /* not JSON: as it is */
      }
    }
  }
  return t;
}

export function BytesView({ b, full }: { b: Bytes | null | undefined; full?: boolean }) {
  if (!b || b.encoding === "null") return <em class="muted">null</em>;
  const text = bytesText(b, !!full);
  const shown = full || text.length <= 120 ? text : text.slice(0, 120) + "…";
  const tag = b.encoding === "hex" ? <span class="tag" title="binary, shown as hex">hex</span> : null;
  return full ? (
    <>
      {tag}
      <pre class="bytes" tabIndex={0}>{shown}</pre>
    </>
  ) : (
    <>
      {tag}
      <span class={b.encoding === "hex" ? "mono" : ""}>{shown}</span>
    </>
  );
}

// ---- charts ----

export interface Series {
  name: string;
  points: [number, number | null][]; // [t_ms, value]
  cls: string; // a CSS class giving its colour (s1, s2...)
}

// A line chart of the last `window_ms` (the API's history covers 15
// minutes), as SVG; its accessible name says what it shows and the
// latest values.
export function Chart(props: {
  title: string;
  series: Series[];
  unit: (v: number) => string;
  window_ms?: number;
  testid?: string;
  // Whole numbers only (lag, bytes): the axis then marks whole numbers,
  // never a rounded 0.5 that would read as 1 at the wrong height.
  integer?: boolean;
}) {
  const W = 640, H = 200, L = 64, R = 10, T = 10, B = 26;
  const win = props.window_ms ?? 15 * 60 * 1000;
  let tmax = 0;
  for (const s of props.series) for (const [t] of s.points) tmax = Math.max(tmax, t);
  if (!tmax) tmax = Date.now();
  const tmin = tmax - win;
  let vmax = 0;
  for (const s of props.series)
    for (const [t, v] of s.points) if (t >= tmin && v !== null && v > vmax) vmax = v;
  vmax = niceMax(vmax, !!props.integer);
  const x = (t: number) => L + ((t - tmin) / win) * (W - L - R);
  const y = (v: number) => T + (1 - v / vmax) * (H - T - B);
  const latest = props.series
    .map((s) => {
      const last = [...s.points].reverse().find((p) => p[1] !== null);
      return `${s.name} ${last ? props.unit(last[1]!) : "no data"}`;
    })
    .join(", ");
  const ticks = !props.integer || Number.isInteger(vmax / 2) ? [0, vmax / 2, vmax] : [0, vmax];
  return (
    <figure class="chart" data-testid={props.testid}>
      <figcaption>
        {props.title}
        <span class="legend">
          {props.series.map((s) => (
            <span key={s.name}>
              <span class={"swatch " + s.cls} aria-hidden="true" /> {s.name}
            </span>
          ))}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.title}, last 15 minutes: ${latest}`}>
        {ticks.map((v) => (
          <g key={v}>
            <line class="grid" x1={L} x2={W - R} y1={y(v)} y2={y(v)} />
            <text class="axis" x={L - 6} y={y(v) + 4} text-anchor="end">
              {props.unit(v)}
            </text>
          </g>
        ))}
        {[15, 10, 5, 0].map((m) => (
          <text key={m} class="axis" x={x(tmax - m * 60000)} y={H - 8} text-anchor={m === 0 ? "end" : m === 15 ? "start" : "middle"}>
            {m ? `−${m} min` : "now"}
          </text>
        ))}
        {props.series.map((s) => (
          <path key={s.name} class={"line " + s.cls} d={path(s.points, tmin, x, y)} />
        ))}
        {/* The latest point of each series, so that a single sample shows. */}
        {props.series.map((s) => {
          const last = [...s.points].reverse().find(([t, v]) => t >= tmin && v !== null && v >= 0);
          return last ? <circle key={s.name} class={"dot " + s.cls} cx={x(last[0])} cy={y(last[1]!)} r="3" /> : null;
        })}
      </svg>
    </figure>
  );
}

function path(pts: [number, number | null][], tmin: number, x: (t: number) => number, y: (v: number) => number): string {
  let d = "";
  let pen = false;
  for (const [t, v] of pts) {
    if (t < tmin || v === null || v < 0) {
      pen = false;
      continue;
    }
    d += (pen ? "L" : "M") + x(t).toFixed(1) + "," + y(v).toFixed(1);
    pen = true;
  }
  return d;
}

function niceMax(v: number, integer: boolean): number {
  if (!(v > 0)) return integer ? 2 : 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (integer && !Number.isInteger(m * p)) continue;
    if (v <= m * p) return Math.max(m * p, integer ? 2 : 0);
  }
  return 10 * p;
}

export function Field(props: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span>{props.label}</span>
      {props.children}
      {props.hint && <small class="muted">{props.hint}</small>}
    </label>
  );
}
