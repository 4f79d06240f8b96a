// Consumer groups: the list, and one group's members, offsets with lag,
// lag over time (refreshed every 5 s), reset offsets (a preview first,
// then apply) and delete.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, enc, type Group } from "../api";
import { bytesText, Chart, ConfirmButton, ErrorBox, Field, fmtBytes, fmtNum, Loading, toApiError, useLoad, useWritable } from "../ui";

export function GroupList() {
  useEffect(() => {
    document.title = "Consumer groups · nodata";
  }, []);
  const list = useLoad(() => api<{ groups: Group[] }>("GET", "/api/groups"), [], 5000);
  return (
    <>
      <h1>Consumer groups</h1>
      <Loading what={list} />
      {list.data && !list.data.groups.length && <p class="muted">No consumer groups.</p>}
      {list.data && list.data.groups.length > 0 && (
        <table data-testid="groups-table">
          <thead>
            <tr>
              <th scope="col">Group</th>
              <th scope="col">Type</th>
              <th scope="col">State</th>
              <th scope="col">Protocol</th>
              <th scope="col" class="num">Members</th>
              <th scope="col" class="num">Lag</th>
              <th scope="col">Topics</th>
            </tr>
          </thead>
          <tbody>
            {list.data.groups.map((g) => (
              <tr key={g.group_id} data-testid="group-row" data-group={g.group_id}>
                <th scope="row">
                  <a href={"#/groups/" + enc(g.group_id)}>{g.group_id}</a>
                </th>
                <td>{g.type}</td>
                <td>{g.state}</td>
                <td>{[g.protocol_type, g.protocol].filter(Boolean).join(" / ")}</td>
                <td class="num">{g.member_count}</td>
                <td class="num" data-testid="group-lag">{fmtNum(g.lag)}</td>
                <td>{g.topics.join(", ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

export function GroupPage({ id }: { id: string }) {
  useEffect(() => {
    document.title = id + " · Consumer groups · nodata";
  }, [id]);
  const writable = useWritable();
  const base = "/api/groups/" + enc(id);
  const g = useLoad(() => api<Group>("GET", base), [id], 5000);
  const hist = useLoad(() => api("GET", base + "/lag-history"), [id], 5000);
  const d = g.data;
  return (
    <>
      <p class="crumbs">
        <a href="#/groups">Consumer groups</a> /
      </p>
      <h1>
        Group <span data-testid="group-id">{id}</span>
      </h1>
      <Loading what={g} />
      {d && (
        <>
          {writable && (
            <div class="toolbar">
              <ConfirmButton
                label="Delete group"
                title={"Delete group " + id + "?"}
                message={<p>The group's committed offsets are deleted. A group with members cannot be deleted.</p>}
                confirmLabel="Delete"
                danger
                testid="group-delete"
                action={() => api("DELETE", base)}
                done={() => (location.hash = "#/groups")}
              />
            </div>
          )}
          <dl class="facts">
            <div><dt>Type</dt><dd>{d.type}</dd></div>
            <div><dt>State</dt><dd data-testid="group-state">{d.state}</dd></div>
            <div><dt>Protocol</dt><dd>{[d.protocol_type, d.protocol].filter(Boolean).join(" / ") || "–"}</dd></div>
            <div><dt>Members</dt><dd>{d.member_count}</dd></div>
            <div><dt>Total lag</dt><dd data-testid="group-total-lag">{fmtNum(d.lag)}</dd></div>
          </dl>
          <Chart
            title="Lag"
            testid="chart-lag"
            unit={(v) => fmtNum(Math.round(v))}
            integer
            series={[{ name: "total lag", cls: "s1", points: (hist.data?.samples || []).map((s: any) => [s.t_ms, s.lag] as [number, number | null]) }]}
          />
          <h2>Members</h2>
          {!d.members?.length ? (
            <p class="muted">No members.</p>
          ) : (
            <table data-testid="members-table">
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">Client</th>
                  <th scope="col">Host</th>
                  <th scope="col">Assignment</th>
                </tr>
              </thead>
              <tbody>
                {d.members.map((m) => (
                  <tr key={m.member_id}>
                    <td><code>{m.member_id}</code>{m.instance_id && <> ({m.instance_id})</>}</td>
                    <td>{m.client_id}</td>
                    <td>{m.host}</td>
                    <td>
                      {m.assignment
                        ? m.assignment.map((a) => `${a.topic} [${a.partitions.join(", ")}]`).join("; ") || "–"
                        : <>not a consumer assignment{m.assignment_bytes ? <> (<code>{bytesText(m.assignment_bytes, false).slice(0, 64)}</code>, {fmtBytes(m.assignment_bytes.size)})</> : null}</>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h2>Offsets</h2>
          {!d.offsets?.length ? (
            <p class="muted">No committed offsets.</p>
          ) : (
            <table data-testid="offsets-table">
              <thead>
                <tr>
                  <th scope="col">Topic</th>
                  <th scope="col" class="num">Partition</th>
                  <th scope="col" class="num">Committed</th>
                  <th scope="col" class="num">Log end</th>
                  <th scope="col" class="num">Lag</th>
                </tr>
              </thead>
              <tbody>
                {d.offsets.map((o) => (
                  <tr key={o.topic + ":" + o.partition} data-testid="offset-row" data-topic={o.topic} data-partition={o.partition}>
                    <td><a href={"#/topics/" + enc(o.topic)}>{o.topic}</a></td>
                    <td class="num">{o.partition}</td>
                    <td class="num" data-testid="offset-committed">{fmtNum(o.committed)}</td>
                    <td class="num">{fmtNum(o.log_end)}</td>
                    <td class="num" data-testid="offset-lag">{fmtNum(o.lag)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {writable && (
            <>
              <h2>Reset offsets</h2>
              <ResetOffsets group={id} topics={[...new Set([...d.topics, ...(d.offsets || []).map((o) => o.topic)])]} done={g.reload} />
            </>
          )}
        </>
      )}
    </>
  );
}

interface Preview {
  dry_run: boolean;
  offsets: { topic: string; partition: number; current: number | null; new: number }[];
}

function ResetOffsets({ group, topics, done }: { group: string; topics: string[]; done: () => void }) {
  const [topic, setTopic] = useState(topics[0] || "");
  const [parts, setParts] = useState("");
  const [to, setTo] = useState("earliest");
  const [arg, setArg] = useState("");
  const [preview, setPreview] = useState<Preview | null>(null);
  const [applied, setApplied] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const body = (dry_run: boolean) => {
    const b: any = {
      topic,
      partitions: parts.trim() ? parts.split(",").map((s) => Number(s.trim())) : null,
      to,
      dry_run,
    };
    if (to === "offset") b.offset = Number(arg);
    if (to === "shift") b.shift = Number(arg);
    if (to === "timestamp") b.timestamp_ms = arg ? new Date(arg).getTime() : 0;
    return b;
  };
  const url = "/api/groups/" + enc(group) + "/reset-offsets";
  const run = async (e: Event) => {
    e.preventDefault();
    try {
      setPreview(await api<Preview>("POST", url, body(true)));
      setApplied(false);
      setError(null);
    } catch (e) {
      setError(toApiError(e));
      setPreview(null);
    }
  };
  const changed = () => {
    setPreview(null);
    setApplied(false);
  };
  return (
    <form onSubmit={run} aria-label="Reset offsets" data-testid="reset-form">
      <div class="toolbar">
        <Field label="Topic">
          {topics.length ? (
            <select value={topic} onChange={(e) => { setTopic(e.currentTarget.value); changed(); }} data-testid="reset-topic">
              {topics.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          ) : (
            <input required value={topic} onInput={(e) => { setTopic(e.currentTarget.value); changed(); }} data-testid="reset-topic" />
          )}
        </Field>
        <Field label="Partitions" hint="comma-separated; empty: all">
          <input value={parts} onInput={(e) => { setParts(e.currentTarget.value); changed(); }} data-testid="reset-partitions" />
        </Field>
        <Field label="To">
          <select value={to} onChange={(e) => { setTo(e.currentTarget.value); changed(); }} data-testid="reset-to">
            <option value="earliest">earliest</option>
            <option value="latest">latest</option>
            <option value="offset">offset</option>
            <option value="timestamp">timestamp</option>
            <option value="shift">shift by</option>
          </select>
        </Field>
        {(to === "offset" || to === "shift") && (
          <Field label={to === "offset" ? "Offset" : "Shift (records, negative: back)"}>
            <input type="number" required value={arg} onInput={(e) => { setArg(e.currentTarget.value); changed(); }} data-testid="reset-value" />
          </Field>
        )}
        {to === "timestamp" && (
          <Field label="Time (local)">
            <input type="datetime-local" step="1" required value={arg} onInput={(e) => { setArg(e.currentTarget.value); changed(); }} data-testid="reset-value" />
          </Field>
        )}
        <button type="submit" class="primary" data-testid="reset-preview">
          Preview
        </button>
      </div>
      <ErrorBox error={error} />
      {preview && (
        <div data-testid="reset-preview-result">
          <table>
            <caption>{applied ? "Committed" : "Preview: nothing is changed yet"}</caption>
            <thead>
              <tr>
                <th scope="col">Topic</th>
                <th scope="col" class="num">Partition</th>
                <th scope="col" class="num">Current</th>
                <th scope="col" class="num">New</th>
              </tr>
            </thead>
            <tbody>
              {preview.offsets.map((o) => (
                <tr key={o.topic + ":" + o.partition} data-testid="reset-row">
                  <td>{o.topic}</td>
                  <td class="num">{o.partition}</td>
                  <td class="num">{fmtNum(o.current)}</td>
                  <td class="num" data-testid="reset-new">{fmtNum(o.new)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {!applied && (
            <ConfirmButton
              label="Apply"
              title={"Reset the offsets of " + group + "?"}
              message={<p>The group's committed offsets for {preview.offsets.length} partitions are replaced by the new ones above.</p>}
              confirmLabel="Reset offsets"
              danger
              testid="reset-apply"
              action={async () => {
                setPreview(await api<Preview>("POST", url, body(false)));
                setApplied(true);
              }}
              done={done}
            />
          )}
          {applied && <p role="status" data-testid="reset-applied">Offsets reset.</p>}
        </div>
      )}
    </form>
  );
}
