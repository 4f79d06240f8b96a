"""test_offset_delete.py — OffsetDelete (API 47) through librdkafka's own
admin call, rd_kafka_DeleteConsumerGroupOffsets (what librdkafka's test
0081 drives), loaded with ctypes from the system librdkafka 2.0 because
confluent-kafka 1.7 does not wrap it:

- an empty group (committed offsets only): the named partitions' offsets
  are gone (OffsetFetch through confluent-kafka answers "none"), the
  others stay, and the deletion survives a restart;
- a live consumer group subscribed to topic A: A's partitions answer
  GROUP_SUBSCRIBED_TO_TOPIC and keep their offsets, while a topic the group
  committed earlier but no longer subscribes to is deleted;
- a group nobody knows: GROUP_ID_NOT_FOUND;
- an unknown partition: UNKNOWN_TOPIC_OR_PARTITION.
"""
import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck = ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

try:
    rd = ctypes.CDLL("librdkafka.so.1")
    rd.rd_kafka_DeleteConsumerGroupOffsets_new  # noqa: B018
except (OSError, AttributeError):
    ndtest.skip("librdkafka.so.1 with DeleteConsumerGroupOffsets not found")


class TP(ctypes.Structure):
    _fields_ = [("topic", ctypes.c_char_p), ("partition", ctypes.c_int32),
                ("offset", ctypes.c_int64), ("metadata", ctypes.c_void_p),
                ("metadata_size", ctypes.c_size_t),
                ("opaque", ctypes.c_void_p), ("err", ctypes.c_int),
                ("_private", ctypes.c_void_p)]


class TPList(ctypes.Structure):
    _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int),
                ("elems", ctypes.POINTER(TP))]


P = ctypes.c_void_p
for name, res, args in [
        ("rd_kafka_conf_new", P, []),
        ("rd_kafka_conf_set", ctypes.c_int,
         [P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
          ctypes.c_size_t]),
        ("rd_kafka_new", P, [ctypes.c_int, P, ctypes.c_char_p,
                             ctypes.c_size_t]),
        ("rd_kafka_destroy", None, [P]),
        ("rd_kafka_queue_new", P, [P]),
        ("rd_kafka_queue_destroy", None, [P]),
        ("rd_kafka_queue_poll", P, [P, ctypes.c_int]),
        ("rd_kafka_event_destroy", None, [P]),
        ("rd_kafka_event_error", ctypes.c_int, [P]),
        ("rd_kafka_event_DeleteConsumerGroupOffsets_result", P, [P]),
        ("rd_kafka_DeleteConsumerGroupOffsets_result_groups",
         ctypes.POINTER(P), [P, ctypes.POINTER(ctypes.c_size_t)]),
        ("rd_kafka_group_result_error", P, [P]),
        ("rd_kafka_group_result_partitions", ctypes.POINTER(TPList), [P]),
        ("rd_kafka_error_code", ctypes.c_int, [P]),
        ("rd_kafka_err2name", ctypes.c_char_p, [ctypes.c_int]),
        ("rd_kafka_topic_partition_list_new", ctypes.POINTER(TPList),
         [ctypes.c_int]),
        ("rd_kafka_topic_partition_list_add", ctypes.POINTER(TP),
         [ctypes.POINTER(TPList), ctypes.c_char_p, ctypes.c_int32]),
        ("rd_kafka_topic_partition_list_destroy", None,
         [ctypes.POINTER(TPList)]),
        ("rd_kafka_DeleteConsumerGroupOffsets_new", P,
         [ctypes.c_char_p, ctypes.POINTER(TPList)]),
        ("rd_kafka_DeleteConsumerGroupOffsets_destroy", None, [P]),
        ("rd_kafka_DeleteConsumerGroupOffsets", None,
         [P, ctypes.POINTER(P), ctypes.c_size_t, P, P])]:
    f = getattr(rd, name)
    f.restype = res
    f.argtypes = args


def delete_offsets(bs, group, parts):
    """librdkafka's DeleteConsumerGroupOffsets -> (group error name,
    {(topic, partition): error name})."""
    conf = rd.rd_kafka_conf_new()
    err = ctypes.create_string_buffer(512)
    rd.rd_kafka_conf_set(conf, b"bootstrap.servers", bs.encode(), err, 512)
    rk = rd.rd_kafka_new(0, conf, err, 512)  # RD_KAFKA_PRODUCER
    if not rk:
        ndtest.fail("rd_kafka_new: %s" % err.value)
    q = rd.rd_kafka_queue_new(rk)
    tpl = rd.rd_kafka_topic_partition_list_new(len(parts))
    for t, p in parts:
        rd.rd_kafka_topic_partition_list_add(tpl, t.encode(), p)
    d = rd.rd_kafka_DeleteConsumerGroupOffsets_new(group.encode(), tpl)
    rd.rd_kafka_topic_partition_list_destroy(tpl)
    arr = (P * 1)(d)
    rd.rd_kafka_DeleteConsumerGroupOffsets(rk, arr, 1, None, q)
    rd.rd_kafka_DeleteConsumerGroupOffsets_destroy(d)
    ev = rd.rd_kafka_queue_poll(q, 20000)
    if not ev:
        ndtest.fail("DeleteConsumerGroupOffsets: no result in 20 s")
    gerr, perr = "NO_ERROR", {}
    top = rd.rd_kafka_event_error(ev)
    if top:
        gerr = rd.rd_kafka_err2name(top).decode()
    else:
        res = rd.rd_kafka_event_DeleteConsumerGroupOffsets_result(ev)
        n = ctypes.c_size_t()
        groups = rd.rd_kafka_DeleteConsumerGroupOffsets_result_groups(
            res, ctypes.byref(n))
        e = rd.rd_kafka_group_result_error(groups[0])
        if e:
            gerr = rd.rd_kafka_err2name(rd.rd_kafka_error_code(e)).decode()
        pl = rd.rd_kafka_group_result_partitions(groups[0])
        if pl:
            for i in range(pl.contents.cnt):
                el = pl.contents.elems[i]
                perr[(el.topic.decode(), el.partition)] = \
                    rd.rd_kafka_err2name(el.err).decode()
    rd.rd_kafka_event_destroy(ev)
    rd.rd_kafka_queue_destroy(q)
    rd.rd_kafka_destroy(rk)
    return gerr, perr


def committed(bs, group, parts):
    c = Consumer({"bootstrap.servers": bs, "group.id": group})
    got = c.committed([TopicPartition(t, p) for t, p in parts], timeout=15)
    c.close()
    return {(x.topic, x.partition): x.offset for x in got}


def commit(bs, group, offsets):
    c = Consumer({"bootstrap.servers": bs, "group.id": group,
                  "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in
                      offsets.items()], asynchronous=False)
    c.close()


def main():
    with ndtest.Broker() as b:
        bs = b.bootstrap
        admin = AdminClient({"bootstrap.servers": bs})
        fs = admin.create_topics([NewTopic("a", 2, 1), NewTopic("b", 2, 1)])
        for f in fs.values():
            f.result(15)
        p = Producer({"bootstrap.servers": bs})
        for i in range(20):
            p.produce("a", b"x", partition=i % 2)
            p.produce("b", b"y", partition=i % 2)
        p.flush(15)
        all4 = [("a", 0), ("a", 1), ("b", 0), ("b", 1)]

        # An empty group (only commits): delete two of four.
        commit(bs, "simple", {tp: 5 for tp in all4})
        gerr, perr = delete_offsets(bs, "simple", [("a", 0), ("b", 1)])
        if gerr != "NO_ERROR" or set(perr.values()) != {"NO_ERROR"}:
            ndtest.fail("empty group: %s %s" % (gerr, perr))
        want = {("a", 0): -1001, ("a", 1): 5, ("b", 0): 5, ("b", 1): -1001}
        if committed(bs, "simple", all4) != want:
            ndtest.fail("after delete: %s" % committed(bs, "simple", all4))
        b.restart()
        if committed(bs, "simple", all4) != want:
            ndtest.fail("after restart: %s" % committed(bs, "simple", all4))

        # Unknown partition and unknown group.
        gerr, perr = delete_offsets(bs, "simple", [("a", 7), ("nope", 0)])
        if perr != {("a", 7): "UNKNOWN_TOPIC_OR_PART",
                    ("nope", 0): "UNKNOWN_TOPIC_OR_PART"}:
            ndtest.fail("unknown partitions: %s %s" % (gerr, perr))
        gerr, perr = delete_offsets(bs, "never-seen", [("a", 0)])
        if gerr != "GROUP_ID_NOT_FOUND":
            ndtest.fail("unknown group: %s %s" % (gerr, perr))

        # A live consumer group subscribed to "a" that once committed "b".
        commit(bs, "live", {tp: 3 for tp in all4})
        c = Consumer({"bootstrap.servers": bs, "group.id": "live",
                      "auto.offset.reset": "earliest",
                      "enable.auto.commit": False,
                      "session.timeout.ms": 6000})
        c.subscribe(["a"])
        deadline = time.time() + 30
        while not c.assignment() and time.time() < deadline:
            c.poll(0.2)
        if not c.assignment():
            ndtest.fail("consumer got no assignment")
        gerr, perr = delete_offsets(bs, "live", all4)
        want = {("a", 0): "GROUP_SUBSCRIBED_TO_TOPIC",
                ("a", 1): "GROUP_SUBSCRIBED_TO_TOPIC",
                ("b", 0): "NO_ERROR", ("b", 1): "NO_ERROR"}
        if gerr != "NO_ERROR" or perr != want:
            ndtest.fail("live group: %s %s" % (gerr, perr))
        c.close()
        got = committed(bs, "live", all4)
        if got != {("a", 0): 3, ("a", 1): 3, ("b", 0): -1001,
                   ("b", 1): -1001}:
            ndtest.fail("live group offsets after delete: %s" % got)
        # Once the group is empty, "a" can go too.
        gerr, perr = delete_offsets(bs, "live", [("a", 0), ("a", 1)])
        if gerr != "NO_ERROR" or set(perr.values()) != {"NO_ERROR"}:
            ndtest.fail("emptied group: %s %s" % (gerr, perr))
    ndtest.passed()


if __name__ == "__main__":
    main()
