// Messages of one topic: browse a partition from the beginning, the end,
// an offset or a timestamp; expandable rows; next page; follow live
// (polling every second from next_offset); search over a bounded range;
// produce a test message; download a range as JSON lines.
import { Fragment } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, enc, qs, type Message, type Topic } from "../api";
import { BytesView, ErrorBox, Field, fmtTime, Loading, toApiError, useLoad, useWritable } from "../ui";

// The most rows kept while following live: older ones scroll away.
const FOLLOW_KEEP = 500;

interface Page {
  log_start: number;
  high_watermark: number;
  last_stable: number;
  next_offset: number;
  messages: Message[];
}

export function Messages({ topic, partition: initial }: { topic: string; partition?: number }) {
  useEffect(() => {
    document.title = "Messages of " + topic + " · nodata";
  }, [topic]);
  const writable = useWritable();
  const t = useLoad(() => api<Topic>("GET", "/api/topics/" + enc(topic)), [topic]);
  const [partition, setPartition] = useState(initial ?? 0);
  const [from, setFrom] = useState("end");
  const [offset, setOffset] = useState("0");
  const [ts, setTs] = useState("");
  const [limit, setLimit] = useState("50");
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [follow, setFollow] = useState(false);
  const [busy, setBusy] = useState(false);
  const pageRef = useRef<Page | null>(null);
  pageRef.current = page;
  const base = `/api/topics/${enc(topic)}/partitions/${partition}`;

  const query = () => {
    const q: Record<string, string | number> = { from, limit };
    if (from === "offset") q.offset = offset;
    if (from === "timestamp") q.timestamp = ts ? String(new Date(ts).getTime()) : "0";
    return q;
  };
  const load = async (q: Record<string, string | number>) => {
    setBusy(true);
    try {
      const p = await api<Page>("GET", base + "/messages" + qs(q));
      setPage(p);
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    setPage(null);
    setFollow(false);
    load(query());
  }, [topic, partition]);

  // Follow live: poll from next_offset every second, appending.
  useEffect(() => {
    if (!follow) return;
    let stop = false;
    let timer = 0;
    const tick = async () => {
      const cur = pageRef.current;
      if (cur) {
        try {
          const p = await api<Page>("GET", base + "/messages" + qs({ from: "offset", offset: cur.next_offset, limit: 500 }));
          if (stop) return;
          const all = [...(pageRef.current?.messages || []), ...p.messages];
          setPage({ ...p, messages: all.slice(Math.max(0, all.length - FOLLOW_KEEP)) });
          setError(null);
        } catch (e) {
          if (!stop) setError(toApiError(e));
        }
      }
      if (!stop) timer = window.setTimeout(tick, 1000);
    };
    tick();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [follow, base]);

  const partitions = t.data?.partitions?.map((p) => p.partition) ?? [...Array(t.data?.partition_count ?? 1).keys()];
  // The download is the browsed range, 1,000 records (the API allows
  // up to 100,000 per call: scripts may ask for more).
  const downloadHref = base + "/download" + qs({ ...query(), limit: 1000 });
  return (
    <>
      <p class="crumbs">
        <a href="#/topics">Topics</a> / <a href={"#/topics/" + enc(topic)}>{topic}</a> /
      </p>
      <h1>
        Messages of <span data-testid="messages-topic">{topic}</span>
      </h1>
      <Loading what={t} />
      <form
        class="toolbar"
        aria-label="Browse"
        onSubmit={(e) => {
          e.preventDefault();
          setFollow(false);
          load(query());
        }}
      >
        <Field label="Partition">
          <select value={partition} onChange={(e) => setPartition(Number(e.currentTarget.value))} data-testid="msg-partition">
            {partitions.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </Field>
        <Field label="From">
          <select value={from} onChange={(e) => setFrom(e.currentTarget.value)} data-testid="msg-from">
            <option value="beginning">beginning</option>
            <option value="end">end</option>
            <option value="offset">offset</option>
            <option value="timestamp">timestamp</option>
          </select>
        </Field>
        {from === "offset" && (
          <Field label="Offset">
            <input type="number" min="0" value={offset} onInput={(e) => setOffset(e.currentTarget.value)} data-testid="msg-offset" />
          </Field>
        )}
        {from === "timestamp" && (
          <Field label="Time (local)">
            <input type="datetime-local" step="1" value={ts} onInput={(e) => setTs(e.currentTarget.value)} data-testid="msg-timestamp" />
          </Field>
        )}
        <Field label="Per page">
          <input type="number" min="1" max="500" value={limit} onInput={(e) => setLimit(e.currentTarget.value)} data-testid="msg-limit" />
        </Field>
        <button type="submit" class="primary" disabled={busy} data-testid="msg-load">
          Show
        </button>
        <label class="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} data-testid="msg-follow" />
          Follow live
        </label>
        <a class="button" href={downloadHref} download data-testid="msg-download">
          Download JSON lines
        </a>
      </form>
      <ErrorBox error={error} />
      {page && (
        <>
          <p class="muted" data-testid="msg-range" aria-live="polite">
            Partition {partition}: offsets {page.log_start}–{page.high_watermark} (last stable {page.last_stable});
            showing {page.messages.length}
            {page.messages.length > 0 && <> from {page.messages[0].offset} to {page.messages[page.messages.length - 1].offset}</>}
            {follow && " · following"}
          </p>
          <MessageTable messages={page.messages} />
          {!follow && page.next_offset < page.high_watermark && (
            <button type="button" onClick={() => load({ from: "offset", offset: page.next_offset, limit })} data-testid="msg-next">
              Next page
            </button>
          )}
        </>
      )}
      <h2>Search</h2>
      <Search topic={topic} partition={partition} />
      {writable && (
        <>
          <h2>Produce a test message</h2>
          <Produce topic={topic} partition={partition} done={() => !follow && load(query())} />
        </>
      )}
    </>
  );
}

export function MessageTable({ messages, withPartition }: { messages: Message[]; withPartition?: boolean }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const toggle = (k: string) => {
    const n = new Set(open);
    n.has(k) ? n.delete(k) : n.add(k);
    setOpen(n);
  };
  if (!messages.length) return <p class="muted" data-testid="msg-empty">No records.</p>;
  const cols = withPartition ? 8 : 7;
  return (
    <table class="messages" data-testid="messages-table">
      <thead>
        <tr>
          <th scope="col"><span class="sr-only">Details</span></th>
          {withPartition && <th scope="col" class="num">Partition</th>}
          <th scope="col" class="num">Offset</th>
          <th scope="col">Timestamp</th>
          <th scope="col">Key</th>
          <th scope="col">Value</th>
          <th scope="col" class="num">Headers</th>
          <th scope="col">Compression</th>
        </tr>
      </thead>
      <tbody>
        {messages.map((m) => {
          const k = (m.partition ?? "") + ":" + m.offset;
          const isOpen = open.has(k);
          return (
            <Fragment key={k}>
              <tr data-testid="message-row" data-offset={m.offset}>
                <td>
                  <button type="button" class="small" aria-expanded={isOpen} aria-label={(isOpen ? "Hide" : "Show") + " record " + m.offset} onClick={() => toggle(k)} data-testid="message-expand">
                    {isOpen ? "▾" : "▸"}
                  </button>
                </td>
                {withPartition && <td class="num">{m.partition}</td>}
                <td class="num">{m.offset}</td>
                <td class="nowrap">{fmtTime(m.timestamp_ms)}</td>
                <td data-testid="message-key"><BytesView b={m.key} /></td>
                <td data-testid="message-value"><BytesView b={m.value} /></td>
                <td class="num">{m.headers.length}</td>
                <td>{m.compression}</td>
              </tr>
              {isOpen && (
                <tr class="details" data-testid="message-details">
                  <td colSpan={cols}>
                    <dl class="facts">
                      <div><dt>Timestamp</dt><dd>{m.timestamp_ms} ({m.timestamp_type})</dd></div>
                      <div><dt>Batch offset</dt><dd>{m.batch_offset}</dd></div>
                      <div><dt>Producer id</dt><dd>{m.producer_id}</dd></div>
                      <div><dt>Transactional</dt><dd>{m.transactional ? "yes" : "no"}</dd></div>
                      <div><dt>Key size</dt><dd>{m.key.size ?? 0} B</dd></div>
                      <div><dt>Value size</dt><dd>{m.value.size ?? 0} B</dd></div>
                    </dl>
                    <p class="label">Key</p>
                    <BytesView b={m.key} full />
                    <p class="label">Value</p>
                    <BytesView b={m.value} full />
                    {m.headers.length > 0 && (
                      <>
                        <p class="label">Headers</p>
                        <table>
                          <thead>
                            <tr><th scope="col">Key</th><th scope="col">Value</th></tr>
                          </thead>
                          <tbody>
                            {m.headers.map((h, i) => (
                              <tr key={i}><td>{h.key}</td><td><BytesView b={h.value} /></td></tr>
                            ))}
                          </tbody>
                        </table>
                      </>
                    )}
                  </td>
                </tr>
              )}
            </Fragment>
          );
        })}
      </tbody>
    </table>
  );
}

function Search({ topic, partition }: { topic: string; partition: number }) {
  const [q, setQ] = useState("");
  const [where, setWhere] = useState("both");
  const [scope, setScope] = useState("all");
  const [from, setFrom] = useState("end");
  const [scan, setScan] = useState("10000");
  const [res, setRes] = useState<{ matches: Message[]; scanned: number; truncated: boolean } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      setRes(
        await api("GET", `/api/topics/${enc(topic)}/search` + qs({ q, in: where, from, scan, partition: scope === "this" ? partition : undefined })),
      );
      setError(null);
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <form class="toolbar" onSubmit={submit} role="search" aria-label="Search records">
        <Field label="Substring">
          <input type="search" required value={q} onInput={(e) => setQ(e.currentTarget.value)} data-testid="search-q" />
        </Field>
        <Field label="In">
          <select value={where} onChange={(e) => setWhere(e.currentTarget.value)} data-testid="search-in">
            <option value="both">key or value</option>
            <option value="key">key</option>
            <option value="value">value</option>
          </select>
        </Field>
        <Field label="Partitions">
          <select value={scope} onChange={(e) => setScope(e.currentTarget.value)} data-testid="search-scope">
            <option value="all">all</option>
            <option value="this">partition {partition}</option>
          </select>
        </Field>
        <Field label="Range">
          <select value={from} onChange={(e) => setFrom(e.currentTarget.value)} data-testid="search-from">
            <option value="end">the last records</option>
            <option value="beginning">the first records</option>
          </select>
        </Field>
        <Field label="Records per partition">
          <input type="number" min="1" max="100000" value={scan} onInput={(e) => setScan(e.currentTarget.value)} data-testid="search-scan" />
        </Field>
        <button type="submit" class="primary" disabled={busy} data-testid="search-submit">
          Search
        </button>
      </form>
      <ErrorBox error={error} />
      {res && (
        <div data-testid="search-results">
          <p class="muted" aria-live="polite">
            {res.matches.length} matches in {res.scanned} records scanned{res.truncated && " (stopped at the limit)"}.
          </p>
          <MessageTable messages={res.matches} withPartition />
        </div>
      )}
    </>
  );
}

function Produce({ topic, partition, done }: { topic: string; partition: number; done: () => void }) {
  const [target, setTarget] = useState("this");
  const [key, setKey] = useState("");
  const [nullKey, setNullKey] = useState(false);
  const [value, setValue] = useState("");
  const [headers, setHeaders] = useState("");
  const [enc_, setEnc] = useState("utf8");
  const [compression, setCompression] = useState("none");
  const [error, setError] = useState<ApiError | null>(null);
  const [result, setResult] = useState<{ partition: number; offset: number } | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const hs = headers
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => {
        const i = l.indexOf(":");
        return i < 0 ? { key: l.trim(), value: "" } : { key: l.slice(0, i).trim(), value: l.slice(i + 1).trim() };
      });
    try {
      const r = await api("POST", `/api/topics/${enc(topic)}/messages`, {
        partition: target === "this" ? partition : null,
        key: nullKey ? null : key,
        value,
        headers: hs,
        key_encoding: enc_,
        value_encoding: enc_,
        compression,
      });
      setResult(r);
      setError(null);
      done();
    } catch (e) {
      setError(toApiError(e));
      setResult(null);
    }
  };
  return (
    <form class="produce" onSubmit={submit} aria-label="Produce a test message" data-testid="produce-form">
      <div class="toolbar">
        <Field label="Partition">
          <select value={target} onChange={(e) => setTarget(e.currentTarget.value)} data-testid="produce-partition">
            <option value="this">{partition}</option>
            <option value="auto">by key (default partitioner)</option>
          </select>
        </Field>
        <Field label="Key">
          <input value={key} disabled={nullKey} onInput={(e) => setKey(e.currentTarget.value)} data-testid="produce-key" />
        </Field>
        <label class="check">
          <input type="checkbox" checked={nullKey} onChange={(e) => setNullKey(e.currentTarget.checked)} data-testid="produce-null-key" />
          null key
        </label>
        <Field label="Encoding">
          <select value={enc_} onChange={(e) => setEnc(e.currentTarget.value)} data-testid="produce-encoding">
            <option value="utf8">UTF-8</option>
            <option value="hex">hex</option>
          </select>
        </Field>
        <Field label="Compression">
          <select value={compression} onChange={(e) => setCompression(e.currentTarget.value)} data-testid="produce-compression">
            {["none", "gzip", "snappy", "lz4", "zstd"].map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </Field>
      </div>
      <Field label="Value">
        <textarea rows={4} value={value} onInput={(e) => setValue(e.currentTarget.value)} data-testid="produce-value" />
      </Field>
      <Field label="Headers" hint="one per line, name: value">
        <textarea rows={2} value={headers} onInput={(e) => setHeaders(e.currentTarget.value)} data-testid="produce-headers" />
      </Field>
      <ErrorBox error={error} />
      {result && (
        <p role="status" data-testid="produce-result">
          Written to partition {result.partition} at offset {result.offset}.
        </p>
      )}
      <button type="submit" class="primary" data-testid="produce-submit">
        Produce
      </button>
    </form>
  );
}
