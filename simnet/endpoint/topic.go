package endpoint

import (
	"slices"

	"github.com/shoaldb/shoal/core/connector"
)

// DefaultKafkaReason is the error of a refused item of a kafka
// destination when the mode names none: what a broker answers a producer
// with acks=all while too few replicas of the partition are in sync.
const DefaultKafkaReason = "NOT_ENOUGH_REPLICAS: the partition has fewer in-sync replicas than acks=all needs"

// topicLog is one topic of an endpoint that stands for a kafka
// destination: the records it took, by partition, in offset order.
type topicLog struct {
	name  string
	parts [][]connector.Record
	next  int // the partition of the next keyless record
}

func newTopicLog(name string, partitions int) *topicLog {
	return &topicLog{name: name, parts: make([][]connector.Record, partitions)}
}

// append adds the record of req to the topic and returns it: a key puts
// it in the partition KafkaPartition picks, as the broker of an inbound
// connector does, no key in the next partition round the topic. The
// record holds its own copies of req's bytes, so that what the engine
// does with its push later cannot change what the topic took.
func (t *topicLog) append(req *connector.Request) connector.Record {
	var p int32
	if len(req.Key) > 0 {
		p = KafkaPartition(req.Key, len(t.parts))
	} else {
		p = int32(t.next)
		t.next = (t.next + 1) % len(t.parts)
	}
	r := connector.Record{Topic: t.name, Partition: p, Offset: int64(len(t.parts[p])),
		Key: slices.Clone(req.Key), Value: slices.Clone(req.Body), Headers: slices.Clone(req.Headers)}
	t.parts[p] = append(t.parts[p], r)
	return r
}

// Topic is the log of topic name as this incarnation of the endpoint took
// it, by partition (Partitions of them), each in offset order; nil when
// it took no record of that topic. The slices are copies; the records'
// bytes are shared and must not be changed.
func (n *Endpoint) Topic(name string) [][]connector.Record {
	t := n.topics[name]
	if t == nil {
		return nil
	}
	out := make([][]connector.Record, len(t.parts))
	for p, recs := range t.parts {
		out[p] = slices.Clone(recs)
	}
	return out
}

// Partitions is how many partitions every topic of the endpoint has.
func (n *Endpoint) Partitions() int { return n.partitions }

// topic is topic name's log, made on its first record.
func (n *Endpoint) topic(name string) *topicLog {
	t := n.topics[name]
	if t == nil {
		t = newTopicLog(name, n.partitions)
		n.topics[name] = t
	}
	return t
}
