package foreign

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/simnet/client"
)

// clientConfig shapes one client of a foreign run.
type clientConfig struct {
	name    env.NodeID
	servers []env.NodeID
	// target is where an operation's first attempt goes: "random",
	// "leader" (the server that last answered ok, or last named the
	// leader, else random) or a node's name. Attempts after a refusal go
	// to the leader the refusal named, else to a server drawn at random.
	target string
	// timeout bounds an operation over all its attempts; retries is how
	// many more attempts it makes after a definite refusal.
	timeout time.Duration
	retries int
	// interval is the time between the starts of consecutive operations;
	// one that is due while the previous runs starts as soon as that
	// ends. until is the virtual time at or after which none starts.
	interval, until time.Duration
	seed            uint64
	// process is the client's first process number; after an info it
	// continues as process+stride.
	process, stride int
}

// kvClient is one client: a goroutine that runs operations one at a
// time through the Net and records each as the simulator's client does
// (simnet/client): client.invoke, then client.ok, client.fail or
// client.info, with the same fields, so that checker.FromTrace reads the
// history from the trace.
//
// A completion never guesses: ok only when a node said so; fail only when
// the operation certainly had no effect (a cas that found another value,
// every attempt refused, or a read without an answer); info whenever a
// write may have taken effect, after which the client continues under a
// new process number. An operation is tried again only after a definite
// refusal (the node was down, or said it does not lead), never after a
// timeout: a write that might have taken effect is never sent twice, so
// the target needs no deduplication. A cas refused every time is info:
// in a history, a failed cas says its compare failed.
type kvClient struct {
	cfg        clientConfig
	net        *Net
	rec        *Recorder
	workRand   *rand.Rand
	serverRand *rand.Rand
	leader     env.NodeID
	process    int
	seq        int64
}

func newClient(cfg clientConfig, net *Net, rec *Recorder) *kvClient {
	if cfg.stride <= 0 {
		cfg.stride = 1
	}
	return &kvClient{cfg: cfg, net: net, rec: rec, process: cfg.process,
		workRand: rand.New(rand.NewPCG(cfg.seed, 1)), serverRand: rand.New(rand.NewPCG(cfg.seed, 2))}
}

// run runs operations until until, or until work has no more.
func (c *kvClient) run(work client.Workload) {
	due := c.rec.Now()
	for due < c.cfg.until {
		if d := due - c.rec.Now(); d > 0 {
			time.Sleep(d)
		}
		op, ok := work.Next(c.workRand)
		if !ok {
			return
		}
		c.do(op)
		due += c.cfg.interval
		if now := c.rec.Now(); due < now {
			due = now
		}
	}
}

// outcome is how an operation ended, as the history records it.
type outcome struct {
	kind  string // client.ok, client.fail, client.info
	read  kv.Value
	index uint64
	note  string
}

// do runs one operation: its invoke, its attempts and its completion.
func (c *kvClient) do(op client.Op) {
	c.seq++
	c.rec.Note(c.cfg.name, "client.invoke", client.HistoryFields("client.invoke", c.process, c.seq, op, kv.Value{}, 0, "")...)
	o := c.attempts(op)
	if o.kind == "client.info" && op.F == kv.OpGet {
		// A read changes nothing: one whose fate is unknown simply
		// failed.
		o.kind = "client.fail"
		o.note += "; a read changes nothing"
	}
	c.rec.Note(c.cfg.name, o.kind, client.HistoryFields(o.kind, c.process, c.seq, op, o.read, o.index, o.note)...)
	if o.kind == "client.info" {
		c.process += c.cfg.stride
	}
}

// attempts sends op until it is answered, refused for good, or out of
// time.
func (c *kvClient) attempts(op client.Op) outcome {
	deadline := c.rec.Now() + c.cfg.timeout
	var hint env.NodeID
	var why string
	for attempt := 1; ; attempt++ {
		server := c.choose(attempt, hint)
		left := deadline - c.rec.Now()
		if left <= 0 {
			return c.refused(op, attempt-1, why)
		}
		req := &Request{Client: c.cfg.name, Seq: c.seq, F: op.F, Key: op.Key, Value: op.Value, Expected: op.Expected, Stale: op.Stale,
			deadline: deadline}
		reply, err := c.net.Call(c.cfg.name, server, KVRequest, req, left, nil)
		switch {
		case errors.Is(err, ErrRefused):
			why = fmt.Sprintf("%s: %v", server, err)
			hint = ""
		case err != nil:
			return outcome{kind: "client.info", note: fmt.Sprintf("%s: %v: the operation may or may not take effect", server, err)}
		default:
			a := reply.(Answer)
			switch a.Status {
			case OK:
				c.leader = server
				return outcome{kind: "client.ok", read: a.Value, index: a.Index, note: string(server)}
			case Mismatch:
				c.leader = server
				return outcome{kind: "client.fail", index: a.Index, note: "cas found " + a.Value.String()}
			case Unknown:
				return outcome{kind: "client.info", note: fmt.Sprintf("%s: %s: the operation may or may not take effect", server, a.Why)}
			}
			why = fmt.Sprintf("%s refused: %s", server, a.Why)
			hint = a.Leader
			if hint != "" {
				c.leader = hint
			}
		}
		if attempt > c.cfg.retries {
			return c.refused(op, attempt, why)
		}
	}
}

// refused ends an operation every attempt of which was refused: it
// certainly had no effect, so it failed; but a cas is info, since a
// failed cas in a history says its compare failed, which nobody saw.
func (c *kvClient) refused(op client.Op, attempts int, why string) outcome {
	if attempts == 0 {
		why = "no time left for an attempt"
	}
	note := fmt.Sprintf("refused %d times; last, %s", attempts, why)
	if op.F == kv.OpCAS {
		return outcome{kind: "client.info", note: note + "; a failed cas would claim its compare failed"}
	}
	return outcome{kind: "client.fail", note: note}
}

// choose picks the server of an operation's attempt (from 1), given the
// leader the last refusal named.
func (c *kvClient) choose(attempt int, hint env.NodeID) env.NodeID {
	if hint != "" {
		return hint
	}
	switch c.cfg.target {
	case "random":
	case "leader":
		if c.leader != "" {
			return c.leader
		}
	default:
		if attempt == 1 {
			return env.NodeID(c.cfg.target)
		}
	}
	return c.cfg.servers[c.serverRand.IntN(len(c.cfg.servers))]
}

// serveKV is the clients' service at every node: it traces the request
// (kv.request), has the target serve it, and traces the answer
// (kv.response) unless the node died meanwhile, whose caller then sees
// the connection lost.
func (r *run) serveKV(to env.NodeID, inc int, from env.NodeID, req *Request) (Answer, error) {
	r.rec.Note(to, "kv.request", env.Str("client", string(req.Client)), env.Int("seq", req.Seq), env.Str("op", req.F.String()),
		env.Str("key", req.Key), env.Str("value", req.Value))
	ctx, cancel := context.WithTimeout(context.Background(), req.deadline-r.rec.Now())
	defer cancel()
	a := r.cluster.Serve(ctx, to, *req)
	if cur, up := r.net.incarnation(to); !up || cur != inc {
		return Answer{}, ErrLost
	}
	status := a.Status.String()
	if a.Status == Refused && a.Leader != "" {
		status = "redirect"
	}
	r.rec.Note(to, "kv.response", env.Str("client", string(req.Client)), env.Int("seq", req.Seq), env.Str("status", status),
		env.Str("value", a.Value.S), env.Bool("found", a.Value.Present), env.Int("index", int64(a.Index)),
		env.Str("leader", string(a.Leader)), env.Str("hint", a.Why))
	return a, nil
}
