"""cgh_wire.py — ConsumerGroupHeartbeat (68, v0-v1) step by step over a raw
socket, on nodata and on Apache Kafka alike, so a test can drive KIP-848
members by hand (join, owned partitions, leave) and read every field of the
answer. The bytes come from Kafka's own schemas (kwire.py).

    with cgh_wire.Conn(bootstrap) as c:
        c.create_topic("t", 6)
        c.wait_coordinator("g")
        r = c.heartbeat("g", "m1", 0, topics=["t"], rebalance_ms=30000,
                        owned=[])
        r["error"], r["epoch"], r["assignment"]  # {topic_id: [partitions]}
"""
import time
import uuid

import kwire


class Conn:
    def __init__(self, bootstrap, client_id="cgh-test"):
        self.k = kwire.Conn(bootstrap, client_id=client_id)

    def close(self):
        self.k.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def create_topic(self, name, partitions):
        """CreateTopics v4; returns the error code (36: exists)."""
        r = self.k.call("CreateTopics", 4, {
            "Topics": [{"Name": name, "NumPartitions": partitions,
                        "ReplicationFactor": 1}],
            "TimeoutMs": 30000})
        return r["Topics"][0]["ErrorCode"]

    def find_coordinator(self, group):
        """FindCoordinator v2 for a group: its error code."""
        return self.k.call("FindCoordinator", 2,
                           {"Key": group, "KeyType": 0})["ErrorCode"]

    def wait_coordinator(self, group, timeout=60):
        """Until the group's coordinator answers (Kafka creates and loads
        __consumer_offsets on the first FindCoordinator)."""
        end = time.time() + timeout
        while True:
            if self.find_coordinator(group) == 0:
                r = self.heartbeat(group, "probe", -1)
                if r["error"] not in (14, 15, 16):  # loading, unavailable
                    return
            if time.time() > end:
                raise TimeoutError("no coordinator for group %s" % group)
            time.sleep(0.2)

    def heartbeat(self, group, member, epoch, instance=None, rack=None,
                  rebalance_ms=-1, topics=None, regex=None, assignor=None,
                  owned=None, version=1):
        """owned: None (not sent) or [(16-byte topic id, [partitions])].
        Returns error, message, member_id, epoch, interval and assignment
        ({16-byte topic id: sorted partitions}, or None when not sent)."""
        r = self.k.call("ConsumerGroupHeartbeat", version, {
            "GroupId": group, "MemberId": member, "MemberEpoch": epoch,
            "InstanceId": instance, "RackId": rack,
            "RebalanceTimeoutMs": rebalance_ms,
            "SubscribedTopicNames": topics, "SubscribedTopicRegex": regex,
            "ServerAssignor": assignor,
            "TopicPartitions": None if owned is None else
            [{"TopicId": uuid.UUID(bytes=bytes(t)), "Partitions": list(p)}
             for t, p in owned]})
        a = r["Assignment"]
        return {"throttle": r["ThrottleTimeMs"], "error": r["ErrorCode"],
                "message": r["ErrorMessage"], "member_id": r["MemberId"],
                "epoch": r["MemberEpoch"],
                "interval": r["HeartbeatIntervalMs"],
                "assignment": None if a is None else
                {uuid.UUID(t["TopicId"]).bytes: sorted(t["Partitions"])
                 for t in a["TopicPartitions"]}}
