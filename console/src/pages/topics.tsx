// Topics: the list (create), and one topic's partitions, configs (edit,
// reset to default), add partitions, producers and delete.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, enc, type Config, type Topic } from "../api";
import {
  ConfirmButton, ErrorBox, Field, fmtBytes, fmtDuration, fmtNum, fmtRate, fmtTime, Loading,
  Modal, toApiError, useLoad, useWritable,
} from "../ui";

export function TopicList() {
  useEffect(() => {
    document.title = "Topics · nodata";
  }, []);
  const writable = useWritable();
  const list = useLoad(() => api<{ topics: Topic[] }>("GET", "/api/topics"), [], 10000);
  const [filter, setFilter] = useState("");
  const [page, setPage] = useState(0);
  const [creating, setCreating] = useState(false);
  const matching = (list.data?.topics || []).filter((t) => t.name.includes(filter));
  // A page at a time: a broker of thousands of topics would otherwise make
  // the browser lay out thousands of rows before showing the first.
  const pages = Math.max(1, Math.ceil(matching.length / TOPICS_PER_PAGE));
  const shown = Math.min(page, pages - 1);
  const topics = matching.slice(shown * TOPICS_PER_PAGE, (shown + 1) * TOPICS_PER_PAGE);
  return (
    <>
      <h1>Topics</h1>
      <div class="toolbar">
        <Field label="Filter">
          <input type="search" value={filter} onInput={(e) => { setFilter(e.currentTarget.value); setPage(0); }} data-testid="topic-filter" />
        </Field>
        {writable && (
          <button type="button" class="primary" onClick={() => setCreating(true)} data-testid="topic-create">
            Create topic
          </button>
        )}
      </div>
      {creating && (
        <CreateTopic
          onClose={() => setCreating(false)}
          created={(name) => {
            setCreating(false);
            location.hash = "#/topics/" + enc(name);
          }}
        />
      )}
      <Loading what={list} />
      {list.data && (
        <table data-testid="topics-table">
          <caption class="sr-only">Topics</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" class="num">Partitions</th>
              <th scope="col" class="num">Size</th>
              <th scope="col" class="num">Records</th>
              <th scope="col">Cleanup policy</th>
              <th scope="col">Retention</th>
              <th scope="col" class="num">Produce rate</th>
            </tr>
          </thead>
          <tbody>
            {topics.map((t) => (
              <tr key={t.name} data-testid="topic-row" data-topic={t.name}>
                <th scope="row">
                  <a href={"#/topics/" + enc(t.name)}>{t.name}</a>
                  {t.internal && <span class="tag">internal</span>}
                </th>
                <td class="num">{t.partition_count}</td>
                <td class="num">{fmtBytes(t.size_bytes)}</td>
                <td class="num">{fmtNum(t.records)}</td>
                <td>{t.cleanup_policy}</td>
                <td>
                  {fmtDuration(t.retention_ms)}
                  {t.retention_bytes !== null && t.retention_bytes >= 0 && <> / {fmtBytes(t.retention_bytes)}</>}
                </td>
                <td class="num">{fmtRate(t.produce_records_s)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.data && !topics.length && <p class="muted">No topics{filter && " match"}.</p>}
      {list.data && matching.length > TOPICS_PER_PAGE && (
        <nav class="pager" aria-label="Pages of topics">
          <button type="button" disabled={shown === 0} onClick={() => setPage(shown - 1)} data-testid="topics-prev">
            Previous
          </button>
          <span data-testid="topics-range">
            {fmtNum(shown * TOPICS_PER_PAGE + 1)}–{fmtNum(shown * TOPICS_PER_PAGE + topics.length)} of {fmtNum(matching.length)} topics
          </span>
          <button type="button" disabled={shown >= pages - 1} onClick={() => setPage(shown + 1)} data-testid="topics-next">
            Next
          </button>
        </nav>
      )}
    </>
  );
}

const TOPICS_PER_PAGE = 100;

function CreateTopic({ onClose, created }: { onClose: () => void; created: (name: string) => void }) {
  const [name, setName] = useState("");
  const [parts, setParts] = useState("1");
  const [policy, setPolicy] = useState("");
  const [retention, setRetention] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const configs: Record<string, string> = {};
    if (policy) configs["cleanup.policy"] = policy;
    if (retention) configs["retention.ms"] = retention;
    try {
      await api("POST", "/api/topics", { name, partitions: Number(parts), configs });
      created(name);
    } catch (e) {
      setError(toApiError(e));
    }
  };
  return (
    <Modal title="Create topic" onClose={onClose} testid="create-topic-dialog">
      <form onSubmit={submit}>
        <Field label="Name">
          <input required value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="create-name" />
        </Field>
        <Field label="Partitions">
          <input type="number" min="1" required value={parts} onInput={(e) => setParts(e.currentTarget.value)} data-testid="create-partitions" />
        </Field>
        <Field label="Cleanup policy">
          <select value={policy} onChange={(e) => setPolicy(e.currentTarget.value)} data-testid="create-cleanup">
            <option value="">broker default</option>
            <option value="delete">delete</option>
            <option value="compact">compact</option>
            <option value="compact,delete">compact,delete</option>
          </select>
        </Field>
        <Field label="Retention (ms)" hint="empty: the broker's default; -1: unlimited">
          <input inputMode="numeric" value={retention} onInput={(e) => setRetention(e.currentTarget.value)} data-testid="create-retention" />
        </Field>
        <ErrorBox error={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" data-testid="create-submit">
            Create
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function TopicPage({ name }: { name: string }) {
  useEffect(() => {
    document.title = name + " · Topics · nodata";
  }, [name]);
  const writable = useWritable();
  const t = useLoad(() => api<Topic>("GET", "/api/topics/" + enc(name)), [name], 10000);
  const base = "/api/topics/" + enc(name);
  return (
    <>
      <p class="crumbs">
        <a href="#/topics">Topics</a> /
      </p>
      <h1>
        Topic <span data-testid="topic-name">{name}</span>
      </h1>
      <Loading what={t} />
      {t.data && (
        <>
          <div class="toolbar">
            <a class="button primary" href={"#/topics/" + enc(name) + "/messages"} data-testid="topic-messages">
              Messages
            </a>
            {writable && <AddPartitions topic={t.data} done={t.reload} />}
            {writable && (
              <ConfirmButton
                label="Delete topic"
                title={"Delete topic " + name + "?"}
                message={<p>Every record of <strong>{name}</strong> is deleted. This cannot be undone.</p>}
                confirmLabel="Delete"
                danger
                testid="topic-delete"
                action={() => api("DELETE", base)}
                done={() => (location.hash = "#/topics")}
              />
            )}
          </div>
          <dl class="facts">
            <div class="wide"><dt>Topic id</dt><dd><code>{t.data.id}</code></dd></div>
            <div><dt>Partitions</dt><dd data-testid="topic-partition-count">{t.data.partition_count}</dd></div>
            <div><dt>Size</dt><dd>{fmtBytes(t.data.size_bytes)}</dd></div>
            <div><dt>Records</dt><dd data-testid="topic-records">{fmtNum(t.data.records)}</dd></div>
            <div><dt>Cleanup policy</dt><dd>{t.data.cleanup_policy}</dd></div>
            <div><dt>Retention</dt><dd>{fmtDuration(t.data.retention_ms)}</dd></div>
            <div><dt>Produce rate</dt><dd>{fmtRate(t.data.produce_records_s)}</dd></div>
          </dl>
          <h2>Partitions</h2>
          <table data-testid="partitions-table">
            <thead>
              <tr>
                <th scope="col" class="num">Partition</th>
                <th scope="col" class="num">Log start</th>
                <th scope="col" class="num">High watermark</th>
                <th scope="col" class="num">Last stable</th>
                <th scope="col" class="num">Records</th>
                <th scope="col" class="num">Size</th>
              </tr>
            </thead>
            <tbody>
              {(t.data.partitions || []).map((p) => (
                <tr key={p.partition}>
                  <th scope="row" class="num">
                    <a href={`#/topics/${enc(name)}/messages?partition=${p.partition}`}>{p.partition}</a>
                  </th>
                  <td class="num">{fmtNum(p.log_start)}</td>
                  <td class="num">{fmtNum(p.high_watermark)}</td>
                  <td class="num">{fmtNum(p.last_stable)}</td>
                  <td class="num">{fmtNum(p.records)}</td>
                  <td class="num">{fmtBytes(p.size_bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Configs</h2>
          <Configs topic={name} configs={t.data.configs || []} done={t.reload} />
          <h2>Producers</h2>
          <Producers topic={name} />
        </>
      )}
    </>
  );
}

function AddPartitions({ topic, done }: { topic: Topic; done: () => void }) {
  const [open, setOpen] = useState(false);
  const [count, setCount] = useState(String(topic.partition_count + 1));
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await api("POST", "/api/topics/" + enc(topic.name) + "/partitions", { count: Number(count) });
      setOpen(false);
      done();
    } catch (e) {
      setError(toApiError(e));
    }
  };
  return (
    <>
      <button type="button" onClick={() => { setError(null); setOpen(true); }} data-testid="topic-add-partitions">
        Add partitions
      </button>
      {open && (
        <Modal title={"Add partitions to " + topic.name} onClose={() => setOpen(false)} testid="add-partitions-dialog">
          <form onSubmit={submit}>
            <p>
              The topic has {topic.partition_count} partitions. Adding partitions changes which partition a key goes to;
              partitions cannot be removed again.
            </p>
            <Field label="New total number of partitions">
              <input type="number" min={topic.partition_count + 1} required value={count} onInput={(e) => setCount(e.currentTarget.value)} data-testid="add-partitions-count" />
            </Field>
            <ErrorBox error={error} />
            <div class="actions">
              <button type="button" onClick={() => setOpen(false)}>
                Cancel
              </button>
              <button type="submit" class="primary" data-testid="add-partitions-submit">
                Add partitions
              </button>
            </div>
          </form>
        </Modal>
      )}
    </>
  );
}

function Configs({ topic, configs, done }: { topic: string; configs: Config[]; done: () => void }) {
  const writable = useWritable();
  const [editing, setEditing] = useState<string | null>(null);
  const [value, setValue] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [showDefaults, setShowDefaults] = useState(true);
  const put = async (body: unknown) => {
    try {
      await api("PUT", "/api/topics/" + enc(topic) + "/configs", body);
      setEditing(null);
      setError(null);
      done();
    } catch (e) {
      setError(toApiError(e));
    }
  };
  const shown = configs.filter((c) => showDefaults || !c.is_default);
  return (
    <>
      <label class="check">
        <input type="checkbox" checked={showDefaults} onChange={(e) => setShowDefaults(e.currentTarget.checked)} data-testid="configs-show-defaults" />
        Show defaults
      </label>
      <ErrorBox error={error} />
      <table data-testid="configs-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Value</th>
            <th scope="col">Source</th>
            {writable && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {shown.map((c) => (
            <tr key={c.name} data-testid="config-row" data-config={c.name} class={c.is_default ? "dim" : ""}>
              <th scope="row">
                <code title={c.documentation}>{c.name}</code>
              </th>
              <td>
                {editing === c.name ? (
                  <form class="inline" onSubmit={(e) => { e.preventDefault(); put({ set: { [c.name]: value } }); }}>
                    <input aria-label={"New value of " + c.name} value={value} onInput={(e) => setValue(e.currentTarget.value)} data-testid="config-value" />
                    <button type="submit" class="primary" data-testid="config-save">Save</button>
                    <button type="button" onClick={() => setEditing(null)}>Cancel</button>
                  </form>
                ) : c.sensitive ? (
                  <em class="muted">sensitive</em>
                ) : (
                  <span class="mono">{c.value ?? "null"}</span>
                )}
              </td>
              <td class="muted">{c.source}</td>
              {writable && (
                <td>
                  {!c.read_only && editing !== c.name && (
                    <button type="button" aria-label={"Edit " + c.name} onClick={() => { setEditing(c.name); setValue(c.value ?? ""); }} data-testid="config-edit">
                      Edit
                    </button>
                  )}
                  {!c.read_only && !c.is_default && c.source === "DYNAMIC_TOPIC_CONFIG" && (
                    <ConfirmButton
                      label="Reset"
                      title={"Reset " + c.name + " to its default?"}
                      message={<p>The topic's own setting <code>{c.name}={c.value}</code> is removed.</p>}
                      testid="config-reset"
                      action={() => api("PUT", "/api/topics/" + enc(topic) + "/configs", { delete: [c.name] })}
                      done={done}
                    />
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function Producers({ topic }: { topic: string }) {
  const r = useLoad(() => api("GET", "/api/topics/" + enc(topic) + "/producers"), [topic], 10000);
  const rows: any[] = [];
  for (const p of r.data?.partitions || []) for (const pr of p.producers || []) rows.push({ partition: p.partition, ...pr });
  return (
    <>
      <Loading what={r} />
      {r.data && !rows.length && <p class="muted">No active producers.</p>}
      {rows.length > 0 && (
        <table data-testid="producers-table">
          <thead>
            <tr>
              <th scope="col" class="num">Partition</th>
              <th scope="col" class="num">Producer id</th>
              <th scope="col" class="num">Epoch</th>
              <th scope="col" class="num">Last sequence</th>
              <th scope="col">Last timestamp</th>
              <th scope="col" class="num">Open transaction from</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={p.partition + ":" + p.producer_id}>
                <td class="num">{p.partition}</td>
                <td class="num">{p.producer_id}</td>
                <td class="num">{p.producer_epoch}</td>
                <td class="num">{p.last_sequence}</td>
                <td>{fmtTime(p.last_timestamp_ms)}</td>
                <td class="num">{p.current_txn_start_offset >= 0 ? p.current_txn_start_offset : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
