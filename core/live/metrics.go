package live

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoaldb/shoal/core/env"
)

// metrics turns the engine's trace into Prometheus metrics, and keeps
// what readiness needs: whether each group knows a leader.
type metrics struct {
	term, commit, applied, leading *prometheus.GaugeVec
	proposals, results, applies    *prometheus.CounterVec
	requests                       *prometheus.CounterVec
	latency                        *prometheus.HistogramVec
	modelRevision                  prometheus.Gauge
	modelVotes, rewrites           *prometheus.CounterVec
	governorSteps                  *prometheus.CounterVec
	// The queues, as their leaders report them.
	queueDepth, queueRepairs         *prometheus.GaugeVec
	outDepth, outOldest, outRetrying *prometheus.GaugeVec
	replEntries, replSeconds         *prometheus.GaugeVec
	outMessages, consumed            *prometheus.CounterVec
	outLatency                       *prometheus.HistogramVec

	// Owned by the loop goroutine: when each pending request arrived.
	arrived map[string]pendingRequest

	mu      sync.Mutex
	leaders map[string]string // group → leader, "" when none is known
	// expelled: the instance applied its own expulsion.
	expelled bool
}

type pendingRequest struct {
	op string
	at time.Time
}

func newMetrics(reg *prometheus.Registry, n *Node) *metrics {
	m := &metrics{
		term:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_raft_term", Help: "The Raft term of each group on this instance."}, []string{"group"}),
		commit:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_raft_commit_index", Help: "The commit index of each group on this instance."}, []string{"group"}),
		applied:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_raft_applied_index", Help: "The applied index of each group on this instance."}, []string{"group"}),
		leading:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_raft_leader", Help: "1 where this instance leads the group, else 0."}, []string{"group"}),
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_raft_proposals_total", Help: "Operator actions proposed on this instance."}, []string{"group"}),
		results:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_raft_proposal_results_total", Help: "Outcomes of the operator actions proposed here."}, []string{"group", "outcome"}),
		applies:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_raft_applied_entries_total", Help: "Entries applied on this instance."}, []string{"group"}),
		requests:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_kv_requests_total", Help: "Key-value requests this instance answered, by operation and status."}, []string{"op", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shoal_kv_apply_seconds",
			Help:    "From a key-value request's arrival on the instance that serves it to its answer: for writes, through the log until applied; for reads, through ReadIndex.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"op"}),
		modelRevision: prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoal_model_revision",
			Help: "The revision of the data model in force on this instance (0: none)."}),
		modelVotes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_model_votes_total",
			Help: "Votes this instance cast on proposed data models as a replicaset's leader, by verdict."}, []string{"verdict"}),
		rewrites: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_model_rewrites_total",
			Help: "The background migration's rewrites of objects stored under an older version, led by this instance: proposed, skipped (the object changed meanwhile), failed (it would not upgrade)."}, []string{"outcome"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_queue_depth",
			Help: "Messages waiting in a replicaset's inbound queue, as its leader on this instance last reported."}, []string{"group"}),
		queueRepairs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_queue_repairs",
			Help: "Messages in a replicaset's repair queue, as its leader on this instance last reported."}, []string{"group"}),
		outDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_outbound_depth",
			Help: "Messages waiting for a destination, as the replicaset's leader on this instance last reported."}, []string{"group", "destination"}),
		outOldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_outbound_oldest_seconds",
			Help: "Age of the oldest message waiting for a destination."}, []string{"group", "destination"}),
		replEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_replication_lag_entries",
			Help: "Changes waiting to be delivered to another cluster, by replicaset, destination of type shoal and receiving cluster, as the replicaset's leader on this instance last reported."}, []string{"group", "destination", "cluster"}),
		replSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_replication_lag_seconds",
			Help: "Age of the oldest change waiting to be delivered to another cluster."}, []string{"group", "destination", "cluster"}),
		outRetrying: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoal_outbound_retrying",
			Help: "Messages for a destination waiting their backoff after a refusal."}, []string{"group", "destination"}),
		outMessages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_outbound_messages_total",
			Help: "Messages pushed by this instance's leaders, by destination and outcome (taken, refused)."}, []string{"destination", "outcome"}),
		outLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shoal_outbound_delivery_seconds",
			Help:    "Per answered push, from its oldest taken message being queued to the answer, on the leader's clock.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 20)}, []string{"destination"}),
		governorSteps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_governor_steps_total",
			Help: "Steps the governor proposed on this instance while it led group 0, by operation (offline, online, voters, state)."}, []string{"op"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_consumer_records_total",
			Help: "Records this instance's Kafka consumers fetched (a record fetched again after a timeout or a rebalance counts again)."}, []string{"connector"}),
		arrived: map[string]pendingRequest{},
		leaders: map[string]string{},
	}
	if reg != nil {
		reg.MustRegister(m.term, m.commit, m.applied, m.leading, m.proposals, m.results, m.applies, m.requests, m.latency,
			m.modelRevision, m.modelVotes, m.rewrites, m.governorSteps,
			m.queueDepth, m.queueRepairs, m.outDepth, m.outOldest, m.outRetrying, m.replEntries, m.replSeconds, m.outMessages, m.outLatency, m.consumed,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shoal_loop_queue_depth", Help: "Events waiting for the instance's event loop."},
				func() float64 { return float64(len(n.inbox)) }),
			transportCollector{n}, topologyCollector{n}, rebalanceCollector{n})
	}
	return m
}

// observe reads one trace record (on the loop goroutine).
func (m *metrics) observe(kind string, fields []env.Field) {
	str := func(k string) string {
		for _, f := range fields {
			if f.Key == k {
				s, _ := f.Value().(string)
				return s
			}
		}
		return ""
	}
	num := func(k string) float64 {
		for _, f := range fields {
			if f.Key == k {
				switch v := f.Value().(type) {
				case int64:
					return float64(v)
				case uint64:
					return float64(v)
				}
			}
		}
		return 0
	}
	switch kind {
	case "raft.state":
		g := str("group")
		m.term.WithLabelValues(g).Set(num("term"))
		m.commit.WithLabelValues(g).Set(num("commit"))
		m.applied.WithLabelValues(g).Set(num("applied"))
		lead := 0.0
		if str("role") == "leader" {
			lead = 1
		}
		m.leading.WithLabelValues(g).Set(lead)
		m.mu.Lock()
		m.leaders[g] = str("leader")
		m.mu.Unlock()
	case "raft.propose":
		m.proposals.WithLabelValues(str("group")).Inc()
	case "prop.result":
		m.results.WithLabelValues(str("group"), str("outcome")).Inc()
	case "raft.apply":
		m.applies.WithLabelValues(str("group")).Inc()
	case "model.revision":
		m.modelRevision.Set(num("revision"))
	case "model.vote":
		verdict := "yes"
		if str("reason") != "" {
			verdict = "no"
		}
		m.modelVotes.WithLabelValues(verdict).Inc()
	case "model.migrate":
		m.rewrites.WithLabelValues("proposed").Add(num("proposed"))
	case "model.migrate.skip":
		m.rewrites.WithLabelValues("skipped").Inc()
	case "model.migrate.error":
		m.rewrites.WithLabelValues("failed").Inc()
	case "queue.state":
		m.queueDepth.WithLabelValues(str("group")).Set(num("depth"))
		m.queueRepairs.WithLabelValues(str("group")).Set(num("repairs"))
	case "outbound.state":
		g, d := str("group"), str("destination")
		m.outDepth.WithLabelValues(g, d).Set(num("depth"))
		m.outOldest.WithLabelValues(g, d).Set(num("oldest_ms") / 1000)
		m.outRetrying.WithLabelValues(g, d).Set(num("retrying"))
	case "repl.lag":
		g, d, c := str("group"), str("destination"), str("cluster")
		m.replEntries.WithLabelValues(g, d, c).Set(num("entries"))
		m.replSeconds.WithLabelValues(g, d, c).Set(num("oldest_ms") / 1000)
	case "outbound.pushed":
		d := str("destination")
		m.outMessages.WithLabelValues(d, "taken").Add(num("taken"))
		m.outMessages.WithLabelValues(d, "refused").Add(num("refused"))
		if num("taken") > 0 {
			m.outLatency.WithLabelValues(d).Observe(num("latency_ms") / 1000)
		}
	case "governor.step":
		m.governorSteps.WithLabelValues(str("op")).Inc()
	case "node.expelled":
		m.mu.Lock()
		m.expelled = true
		m.mu.Unlock()
	case "consumer.batch":
		m.consumed.WithLabelValues(str("connector")).Add(num("records"))
	case "kv.request":
		// A client has one request in flight; a retry restarts its clock.
		m.arrived[str("client")] = pendingRequest{op: str("op"), at: time.Now()}
	case "kv.response":
		p, ok := m.arrived[str("client")]
		if !ok {
			return
		}
		delete(m.arrived, str("client"))
		status := str("status")
		if status != "redirect" {
			m.latency.WithLabelValues(p.op).Observe(time.Since(p.at).Seconds())
		}
		m.requests.WithLabelValues(p.op, status).Inc()
	}
}

// ready reports whether every group this instance is in knows a leader.
func (m *metrics) ready() (bool, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.expelled {
		return false, "this instance was expelled from the cluster: it serves nothing, and may be stopped and its data directory removed"
	}
	if len(m.leaders) == 0 {
		return false, "no Raft group has reported its state yet"
	}
	for g, l := range m.leaders {
		if l == "" {
			return false, "group " + g + " knows no leader"
		}
	}
	return true, ""
}

// transportCollector reports the peer transport's counters at each
// scrape.
type transportCollector struct{ n *Node }

var (
	descSent     = prometheus.NewDesc("shoal_messages_sent_total", "Messages written to peer connections, by kind.", []string{"kind"}, nil)
	descDropped  = prometheus.NewDesc("shoal_messages_dropped_total", "Messages that never reached a peer connection, by reason.", []string{"reason"}, nil)
	descReceived = prometheus.NewDesc("shoal_messages_received_total", "Messages received from peers, by kind.", []string{"kind"}, nil)
	descQueued   = prometheus.NewDesc("shoal_peer_queue_depth", "Messages waiting to be sent, by peer.", []string{"peer"}, nil)
	descRejected = prometheus.NewDesc("shoal_peer_connections_rejected_total", "Peer connections closed for what the peer sent, by reason.", []string{"reason"}, nil)
	descConns    = prometheus.NewDesc("shoal_peer_connections", "Peer connections open now.", []string{"direction"}, nil)
)

func (transportCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSent, descDropped, descReceived, descQueued, descRejected, descConns} {
		ch <- d
	}
}

func (c transportCollector) Collect(ch chan<- prometheus.Metric) {
	if c.n.transport == nil {
		return
	}
	s := c.n.transport.Stats()
	counters := func(d *prometheus.Desc, m map[string]uint64) {
		for k, v := range m {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), k)
		}
	}
	counters(descSent, s.Sent)
	counters(descDropped, s.DroppedBy)
	counters(descReceived, s.Received)
	counters(descRejected, s.Rejected)
	for peer, q := range s.Queued {
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(q), string(peer))
	}
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(s.Outbound), "outbound")
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(s.Inbound), "inbound")
}

// topologyCollector reports the cluster's shape, as this instance last
// applied it from group 0, at each scrape.
type topologyCollector struct{ n *Node }

var (
	descInstanceState = prometheus.NewDesc("shoal_instance_state",
		"1 for each instance's current state (online, offline, expelled) and the target the governor is taking it to, as this instance applied the configuration.",
		[]string{"instance", "state", "target"}, nil)
	descMembers = prometheus.NewDesc("shoal_replicaset_members", "Members of each replicaset (complete at the replication factor).", []string{"replicaset"}, nil)
	descVoters  = prometheus.NewDesc("shoal_group0_voters", "Group 0's voters, as the configuration names them.", nil, nil)
)

func (topologyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInstanceState, descMembers, descVoters} {
		ch <- d
	}
}

func (c topologyCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.n.view.Load()
	if v == nil {
		return
	}
	for _, in := range v.instances {
		ch <- prometheus.MustNewConstMetric(descInstanceState, prometheus.GaugeValue, 1, string(in.Name), string(in.State), string(in.Target))
	}
	for i, rs := range v.replicasets {
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(v.members[i]), rs)
	}
	ch <- prometheus.MustNewConstMetric(descVoters, prometheus.GaugeValue, float64(v.voters))
}

// rebalanceCollector reports the buckets' spread and moves, as this
// instance last applied the configuration from group 0, at each scrape.
type rebalanceCollector struct{ n *Node }

var (
	descBuckets = prometheus.NewDesc("shoal_rebalance_buckets", "Buckets each replicaset owns.", []string{"replicaset"}, nil)
	descTarget  = prometheus.NewDesc("shoal_rebalance_target_buckets",
		"Buckets each replicaset owns once the spread is even (complete replicasets share them; an incomplete one keeps what it has).", []string{"replicaset"}, nil)
	descMovesStarted = prometheus.NewDesc("shoal_rebalance_moves_started_total", "Bucket moves group 0 has started, the one under way and aborted ones included.", nil, nil)
	descMoving       = prometheus.NewDesc("shoal_rebalance_moving", "1 while a bucket move is under way, else 0.", nil, nil)
	descPaused       = prometheus.NewDesc("shoal_rebalance_paused", "1 while rebalancing is paused (the setting rebalance.paused): the governor starts no move.", nil, nil)
	descLeftovers    = prometheus.NewDesc("shoal_rebalance_leftovers", "Copies of buckets replicasets hold without owning them, still to drop.", nil, nil)
	descBalanced     = prometheus.NewDesc("shoal_rebalance_balanced",
		"1 when nothing is moving, no leftover waits and the complete replicasets' bucket counts differ by at most one, else 0.", nil, nil)
)

func (rebalanceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBuckets, descTarget, descMovesStarted, descMoving, descPaused, descLeftovers, descBalanced} {
		ch <- d
	}
}

func (c rebalanceCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.n.view.Load()
	if v == nil {
		return
	}
	rb := &v.rebalance
	for _, l := range rb.Replicasets {
		ch <- prometheus.MustNewConstMetric(descBuckets, prometheus.GaugeValue, float64(l.Buckets), l.Name)
		ch <- prometheus.MustNewConstMetric(descTarget, prometheus.GaugeValue, float64(l.Target), l.Name)
	}
	ch <- prometheus.MustNewConstMetric(descMovesStarted, prometheus.CounterValue, float64(rb.MovesStarted))
	ch <- prometheus.MustNewConstMetric(descMoving, prometheus.GaugeValue, oneIf(rb.Moving != nil))
	ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, oneIf(rb.Paused))
	ch <- prometheus.MustNewConstMetric(descLeftovers, prometheus.GaugeValue, float64(len(rb.Leftovers)))
	ch <- prometheus.MustNewConstMetric(descBalanced, prometheus.GaugeValue, oneIf(rb.Balanced))
}

// oneIf is 1 for true, 0 for false.
func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
