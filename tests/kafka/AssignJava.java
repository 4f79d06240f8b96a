// SPDX-License-Identifier: Apache-2.0
//
// AssignJava — Kafka 4.4's own server-side assignors (UniformAssignor,
// RangeAssignor) and RE2/J on cases read from stdin, for
// tests/compat/test_cgroup_assign_kafka.py, which feeds the same cases to
// nodata's cg_assign / cg_regex (tests/test_cgroup_assign --stdin) and
// compares the two outputs line by line. Run as a source file:
//   java -cp <tests/kafka/assign/pom.xml's classpath> AssignJava.java
//
// Input, one item per line, fields separated by single spaces:
//   case ID ASSIGNOR [hetero]           (hetero: HETEROGENEOUS whatever
//                                        the subscriptions, as when one
//                                        member also names a missing topic)
//   topic UUIDHEX PARTITIONS            (topics are numbered 0, 1, ...)
//   member ID INSTANCE|- TOPICS|- CURRENT|-
//       TOPICS: topic numbers, comma separated, in insertion order
//       CURRENT: UUIDHEX:PARTITION, comma separated, in cg_parts order
//   end                                 (runs the case)
//   regex hHEXPATTERN NAME,NAME,...     (one RE2/J case)
// Output:
//   case ID  then  m ID TOPICNUMBER:PARTITION,...  (sorted) per member
//   regex ok 0101...  or  regex err DESCRIPTION
//
// The group spec is built the way cgroup_assign.c's header comment
// describes: members put into a HashMap in input order, each member's
// topics into a HashSet in its order, its current assignment into an
// unmodifiable HashMap of HashSets in cg_parts order.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.apache.kafka.common.Uuid;
import org.apache.kafka.coordinator.group.api.assignor.ConsumerGroupPartitionAssignor;
import org.apache.kafka.coordinator.group.api.assignor.GroupAssignment;
import org.apache.kafka.coordinator.group.api.assignor.MemberAssignment;
import org.apache.kafka.coordinator.group.api.assignor.SubscribedTopicDescriber;
import org.apache.kafka.coordinator.group.api.assignor.SubscriptionType;
import org.apache.kafka.coordinator.group.assignor.RangeAssignor;
import org.apache.kafka.coordinator.group.assignor.UniformAssignor;
import org.apache.kafka.coordinator.group.modern.Assignment;
import org.apache.kafka.coordinator.group.modern.GroupSpecImpl;
import org.apache.kafka.coordinator.group.modern.MemberSubscriptionAndAssignmentImpl;

public class AssignJava {
    static Uuid uuid(String hex) {
        return new Uuid(Long.parseUnsignedLong(hex.substring(0, 16), 16),
                        Long.parseUnsignedLong(hex.substring(16), 16));
    }

    static String hex(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x & 0xff));
        return sb.toString();
    }

    static String unhex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++)
            b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        return new String(b, StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        String id = null, assignor = null;
        boolean hetero = false;
        List<Uuid> topics = new ArrayList<>();
        Map<Uuid, Integer> numbers = new HashMap<>();
        List<Integer> partitions = new ArrayList<>();
        List<String[]> members = new ArrayList<>();
        for (String line; (line = in.readLine()) != null; ) {
            String[] f = line.split(" ", -1);
            switch (f[0]) {
                case "case":
                    id = f[1];
                    assignor = f[2];
                    hetero = f.length > 3 && f[3].equals("hetero");
                    topics.clear();
                    numbers.clear();
                    partitions.clear();
                    members.clear();
                    break;
                case "topic":
                    numbers.put(uuid(f[1]), topics.size());
                    topics.add(uuid(f[1]));
                    partitions.add(Integer.parseInt(f[2]));
                    break;
                case "member":
                    members.add(f);
                    break;
                case "end":
                    out.append("case ").append(id).append('\n');
                    run(out, assignor, hetero, topics, numbers, partitions, members);
                    break;
                case "regex":
                    out.append(regex(unhex(f[1].substring(1)), f.length > 2 && !f[2].isEmpty() ? f[2].split(",") : new String[0]));
                    break;
                default:
                    throw new IllegalArgumentException("bad line: " + line);
            }
        }
        java.io.PrintStream o = new java.io.PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
        o.print(out);
        o.flush();
    }

    static String regex(String pattern, String[] names) {
        com.google.re2j.Pattern p;
        try {
            p = com.google.re2j.Pattern.compile(pattern);
        } catch (com.google.re2j.PatternSyntaxException e) {
            return "regex err " + e.getDescription() + "\n";
        }
        StringBuilder sb = new StringBuilder("regex ok ");
        for (String n : names) sb.append(p.matcher(n).matches() ? '1' : '0');
        return sb.append('\n').toString();
    }

    static void run(StringBuilder out, String assignorName, boolean hetero, List<Uuid> topics, Map<Uuid, Integer> numbers,
                    List<Integer> partitions, List<String[]> members) {
        Map<String, MemberSubscriptionAndAssignmentImpl> spec = new HashMap<>();
        Map<Uuid, Map<Integer, String>> inverted = new HashMap<>();
        List<Set<Uuid>> subs = new ArrayList<>();
        for (String[] f : members) {
            Set<Uuid> s = new HashSet<>();
            if (!f[3].equals("-"))
                for (String t : f[3].split(",")) s.add(topics.get(Integer.parseInt(t)));
            subs.add(s);
            Assignment current = Assignment.EMPTY;
            if (!f[4].equals("-")) {
                Map<Uuid, Set<Integer>> m = new HashMap<>();
                for (String tp : f[4].split(",")) {
                    String[] x = tp.split(":");
                    Uuid u = uuid(x[0]);
                    int p = Integer.parseInt(x[1]);
                    // put, not computeIfAbsent: that one inserts at the
                    // head of a HashMap bucket, put at its tail.
                    Set<Integer> ps = m.get(u);
                    if (ps == null) m.put(u, ps = new HashSet<>());
                    ps.add(p);
                    inverted.computeIfAbsent(u, k -> new HashMap<>()).put(p, f[1]);
                }
                current = new Assignment(Collections.unmodifiableMap(m));
            }
            spec.put(f[1], new MemberSubscriptionAndAssignmentImpl(
                Optional.empty(), f[2].equals("-") ? Optional.empty() : Optional.of(f[2]), s, current));
        }
        boolean homogeneous = !hetero;
        for (Set<Uuid> s : subs) homogeneous &= s.equals(subs.get(0));
        ConsumerGroupPartitionAssignor a = assignorName.equals("range") ? new RangeAssignor() : new UniformAssignor();
        SubscribedTopicDescriber d = new SubscribedTopicDescriber() {
            public int numPartitions(Uuid t) {
                Integer n = numbers.get(t);
                return n == null ? -1 : partitions.get(n);
            }

            public Set<String> racksForPartition(Uuid t, int p) {
                return Collections.emptySet();
            }
        };
        GroupAssignment g;
        try {
            g = a.assign(new GroupSpecImpl(spec, homogeneous ? SubscriptionType.HOMOGENEOUS
                : SubscriptionType.HETEROGENEOUS, inverted), d);
        } catch (Exception e) {
            out.append("error ").append(e.getClass().getSimpleName()).append('\n');
            return;
        }
        for (String[] f : members) {
            MemberAssignment ma = g.members().get(f[1]);
            List<long[]> tps = new ArrayList<>();
            if (ma != null)
                for (Map.Entry<Uuid, Set<Integer>> e : ma.partitions().entrySet())
                    for (int p : e.getValue()) tps.add(new long[]{numbers.get(e.getKey()), p});
            tps.sort((x, y) -> x[0] != y[0] ? Long.compare(x[0], y[0]) : Long.compare(x[1], y[1]));
            StringBuilder sb = new StringBuilder();
            for (long[] tp : tps) sb.append(sb.length() == 0 ? "" : ",").append(tp[0]).append(':').append(tp[1]);
            out.append("m ").append(f[1]).append(' ').append(sb.length() == 0 ? "-" : sb).append('\n');
        }
    }
}
