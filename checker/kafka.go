package checker

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/env"
)

// kafkaLog is what Delivery follows of the simulated Kafka brokers: the
// records produced, the consumers' enqueues the queue acknowledged, and
// the offsets committed.
type kafkaLog struct {
	ids       map[kafkaOffset]string    // a produced record's message id
	end       map[kafkaPartition]int64  // the offset after the last produced
	committed map[kafkaPartition]int64  // the offset committed last
	requests  map[clientSeq]string      // a consumer's enqueue → message id
	acked     map[string]bool           // message ids the queue acknowledged
	commits   int                       // partitions' commits the brokers accepted
	refused   int                       // commit requests they refused
	enqueues  map[string]map[string]int // message id → client → requests
}

type kafkaPartition struct {
	connector string
	partition int64
}

type kafkaOffset struct {
	kafkaPartition
	offset int64
}

type clientSeq struct {
	client string
	seq    int64
}

func newKafkaLog() *kafkaLog {
	return &kafkaLog{ids: map[kafkaOffset]string{}, end: map[kafkaPartition]int64{}, committed: map[kafkaPartition]int64{},
		requests: map[clientSeq]string{}, acked: map[string]bool{}, enqueues: map[string]map[string]int{}}
}

func partitionOf(r *env.Record) kafkaPartition {
	conn, _ := r.Str("connector")
	p, _ := r.Int("partition")
	return kafkaPartition{conn, p}
}

// produced notes a kafka.produce.
func (k *kafkaLog) produced(r *env.Record, id string) {
	p := partitionOf(r)
	off, _ := r.Int("offset")
	k.ids[kafkaOffset{p, off}] = id
	k.end[p] = max(k.end[p], off+1)
}

// enqueue notes a kv.request or kv.response of an enqueue; for one the
// queue acknowledged, it calls ok with the message id and where the
// message was queued.
func (k *kafkaLog) enqueue(r *env.Record, ok func(id, rs string, pos int64)) {
	client, _ := r.Str("client")
	seq, _ := r.Int("seq")
	if r.Kind == "kv.request" {
		if op, _ := r.Str("op"); op == "enqueue" {
			id, _ := r.Str("id")
			k.requests[clientSeq{client, seq}] = id
			if k.enqueues[id] == nil {
				k.enqueues[id] = map[string]int{}
			}
			k.enqueues[id][consumerOf(client)]++
		}
		return
	}
	id, found := k.requests[clientSeq{client, seq}]
	pos, _ := r.Int("position")
	if st, _ := r.Str("status"); !found || st != "ok" || pos <= 0 {
		// Position 0: the answer to a sequence number older than the
		// client's last applied one, which enqueued nothing.
		return
	}
	k.acked[id] = true
	rs, _ := r.Str("replicaset")
	ok(id, rs, pos)
}

// commit checks a kafka.commit: every offset it covers must be of a
// record produced and acknowledged. It returns the culprit when not.
func (k *kafkaLog) commit(r *env.Record) *Culprit {
	p := partitionOf(r)
	from, _ := r.Int("from")
	next, _ := r.Int("next")
	k.commits++
	for off := from; off < next; off++ {
		id, ok := k.ids[kafkaOffset{p, off}]
		what := ""
		switch {
		case !ok:
			what = fmt.Sprintf("the broker of %s committed partition %d up to offset %d, and offset %d was never produced", p.connector, p.partition, next, off)
		case !k.acked[id]:
			what = fmt.Sprintf("the broker of %s committed partition %d up to offset %d before the queue acknowledged record %s", p.connector, p.partition, next, id)
		default:
			continue
		}
		return &Culprit{Time: r.Time, Node: string(r.Node), What: what}
	}
	k.committed[p] = next // as the broker keeps it: a late commit may move it back
	return nil
}

// refusal notes a kafka.refuse.
func (k *kafkaLog) refusal(r *env.Record) {
	if what, _ := r.Str("what"); what == "commit" {
		k.refused++
	}
}

// behind says which partition was not committed to its end, or "".
func (k *kafkaLog) behind() string {
	parts := slices.SortedFunc(maps.Keys(k.end), func(a, b kafkaPartition) int {
		return cmp.Or(cmp.Compare(a.connector, b.connector), cmp.Compare(a.partition, b.partition))
	})
	for _, p := range parts {
		if c := k.committed[p]; c < k.end[p] {
			return fmt.Sprintf("after the recovery, partition %d of %s's topic is committed up to offset %d of the %d records produced: its consumers fell behind",
				p.partition, p.connector, c, k.end[p])
		}
	}
	return ""
}

// summary describes the Kafka traffic, ending in "; ", or is "".
func (k *kafkaLog) summary() string {
	if len(k.ids) == 0 {
		return ""
	}
	again := 0
	for _, id := range k.ids {
		if len(k.enqueues[id]) > 1 {
			again++
		}
	}
	return fmt.Sprintf("%d of them records produced to Kafka, every partition committed to its end in %d partition commits (%d commit requests refused), "+
		"%d records enqueued by more than one consumer; ", len(k.ids), k.commits, k.refused, again)
}

// consumerOf is the consumer a client belongs to: a consumer enqueues
// from lanes INSTANCE/CONNECTOR.BOOT/LANE, one client each.
func consumerOf(client string) string {
	if strings.Count(client, "/") >= 2 {
		client = client[:strings.LastIndexByte(client, '/')]
	}
	return client
}
