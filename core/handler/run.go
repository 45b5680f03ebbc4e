package handler

import (
	"encoding/json"
	"fmt"
	"github.com/shoaldb/shoal/core/jsonvalue"
	"maps"
	"strconv"
	"time"

	"github.com/shoaldb/shoal/core/route"
)

// MaxCopyBytes bounds the bytes of values the built-in handlers copy in
// one Run (map's sources, split's kept fields, enrich's objects),
// measured as their JSON: a few steps that copy a field into itself
// would otherwise double a message at every step.
const MaxCopyBytes = 8 << 20

// Input is an inbound message as the queue holds it.
type Input struct {
	ID, Connector string
	Headers       map[string]string // names in any case
	Payload       []byte            // a JSON object
}

// Outcome is everything one message produces. Either Failure is non-nil
// and nothing else is set but Steps (the message goes to the repair queue
// whole: no partial effects), or it holds the effects.
type Outcome struct {
	Keys     []string   // the routing keys it got, in route order
	Objects  []Object   // to store, in order (chain order of keys, then output order)
	Outbound []Outbound // to the outbound queue, in the order the steps sent them
	Failure  *Failure
	Steps    int // handler invocations, for tracing and limits; counted on failure too
}

// Object is a message that reached the end of its chain with a type: an
// object to store.
type Object struct {
	Key     string // the routing key whose chain produced it
	Type    string
	Version int    // 0: the type's latest
	Value   []byte // the fields as JSON: keys sorted, no spaces, numbers as received
}

// Outbound is a message an outbound step sent.
type Outbound struct {
	// Key orders the destination's deliveries: messages of one key arrive
	// in the order they were sent. It is the routing key whose chain sent
	// the message, unless the outbound step names a field (key: $.id).
	Key         string
	Destination string
	Value       []byte // the fields as JSON, as in Object
}

// Failure says why a message goes to the repair queue.
type Failure struct {
	Key     string // the routing key whose chain failed; "" when routing failed
	Step    int    // the failing step's index in the chain, from 0; -1 for routing; the chain's length for its end
	Handler string // the failing step's handler; "" for routing and the end of a chain
	Reason  string
}

// run is the state of one Run.
type run struct {
	now  time.Time
	look Lookup

	key      string // of the chain running
	steps    int
	created  int // messages, as MaxMessages counts them
	lookups  int
	overLook bool // a lookup was refused: the message fails
	copied   int
	outBytes int
	outbound []Outbound
}

// Run takes one inbound message through the pipeline: it routes it, runs
// each routing key's chain on a fresh copy of the payload's fields, and
// returns the objects and outbound messages the chains produced, or why
// the message fails. look reads stored objects for enrich and Go
// handlers; now is the engine's clock, which handlers see as
// Context.Now. Run is a pure function of the pipeline, its arguments and
// what look returns.
func (p *Pipeline) Run(in *Input, look Lookup, now time.Time) Outcome {
	if in == nil {
		in = &Input{}
	}
	r := &run{now: now, look: look}
	fail := func(f *Failure) Outcome { return Outcome{Failure: f, Steps: r.steps} }
	if len(in.Payload) > route.MaxPayloadSize {
		return fail(&Failure{Step: -1, Reason: "the payload is " + strconv.Itoa(len(in.Payload)) + " bytes, over the limit of 1 MiB"})
	}
	res := p.Routes.Route(&route.Message{Connector: in.Connector, Headers: in.Headers, Payload: in.Payload})
	if res.Keys == nil {
		return fail(&Failure{Step: -1, Reason: res.Reason})
	}
	fields, why := decodeObject(in.Payload)
	if why != "" {
		return fail(&Failure{Step: -1, Reason: route.ReasonNotObject + why})
	}
	headers := canonicalHeaders(in.Headers)
	var objects []Object
	for _, key := range res.Keys {
		ch := p.chains[key]
		if ch == nil {
			return fail(&Failure{Key: key, Step: -1, Reason: "routing key " + strconv.Quote(key) + " has no chain"})
		}
		r.key = key
		objs, f := r.chain(ch, in, headers, fields)
		if f != nil {
			return fail(f)
		}
		objects = append(objects, objs...)
	}
	return Outcome{Keys: res.Keys, Objects: objects, Outbound: r.outbound, Steps: r.steps}
}

// chain runs one chain, step by step: every message through a step, then
// every message out of it through the next.
func (r *run) chain(ch *chain, in *Input, headers map[string]string, fields map[string]any) ([]Object, *Failure) {
	failAt := func(i int, handler, format string, args ...any) *Failure {
		where := "step " + strconv.Itoa(i) + " (" + handler + ")"
		if i == len(ch.steps) {
			where = "end"
		}
		return &Failure{Key: ch.key, Step: i, Handler: handler,
			Reason: fmt.Sprintf("chain %s, %s: ", ch.key, where) + fmt.Sprintf(format, args...)}
	}
	if err := r.more(1); err != nil { // the chain's own message
		return nil, failAt(0, ch.steps[0].name, "%v", err)
	}
	r.created++
	msgs := []*Message{{
		ID: in.ID, Connector: in.Connector, Key: ch.key,
		Headers: maps.Clone(headers), Fields: jsonvalue.CopyObject(fields),
	}}
	for i, s := range ch.steps {
		var next []*Message
		for _, m := range msgs {
			out, err := r.invoke(s, m)
			if r.overLook {
				return nil, failAt(i, s.name, "more than %d lookups for one message (MaxLookups)", MaxLookups)
			}
			if err != nil {
				return nil, failAt(i, s.name, "%v", err)
			}
			if len(out) > 1 {
				if err := r.more(len(out) - 1); err != nil {
					return nil, failAt(i, s.name, "%v", err)
				}
				r.created += len(out) - 1
			}
			next = append(next, out...)
		}
		msgs = next
		if len(msgs) == 0 {
			return nil, nil
		}
	}
	end := len(ch.steps)
	var objects []Object
	for _, m := range msgs {
		if m.Type == "" {
			if m.sent {
				continue
			}
			return nil, failAt(end, "", "reached the end of chain %s without a type: add set-type, or filter it out", ch.key)
		}
		if !validType(m.Type) {
			return nil, failAt(end, "", "type %q is not valid: %s", m.Type, typeNameRule)
		}
		if m.Version < 0 {
			return nil, failAt(end, "", "version %d of %s is not valid: 0 (the latest) or more", m.Version, m.Type)
		}
		data, err := encode(m.Fields)
		if err != nil {
			return nil, failAt(end, "", "its fields are no JSON: %v", err)
		}
		if err := r.output(len(data)); err != nil {
			return nil, failAt(end, "", "%v", err)
		}
		objects = append(objects, Object{Key: ch.key, Type: m.Type, Version: m.Version, Value: data})
	}
	return objects, nil
}

// invoke runs one step on one message: a Go handler's panic becomes its
// error, and its results are copied into messages the next step may
// trust.
func (r *run) invoke(s *step, m *Message) (out []*Message, err error) {
	r.steps++
	if s.f == nil {
		return nil, fmt.Errorf("handler %s is not registered in this binary", s.name)
	}
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, fmt.Errorf("handler %s panicked: %v", s.name, v)
		}
	}()
	out, err = s.f(&Context{run: r, params: s.params}, m)
	if err != nil {
		return nil, err
	}
	if !s.custom {
		return out, nil
	}
	clean := make([]*Message, len(out))
	for i, o := range out {
		if o == nil {
			return nil, fmt.Errorf("handler %s returned a nil message", s.name)
		}
		fields, err := normalize(o.Fields)
		if err != nil {
			return nil, fmt.Errorf("handler %s returned a message whose Fields %v", s.name, err)
		}
		clean[i] = &Message{
			ID: m.ID, Connector: m.Connector, Key: r.key, Headers: canonicalHeaders(o.Headers),
			Type: o.Type, Version: o.Version, Fields: fields, sent: o.sent,
		}
	}
	return clean, nil
}

// more checks that n more messages may be made.
func (r *run) more(n int) error {
	if n > 0 && r.created+n > MaxMessages {
		return fmt.Errorf("%d more messages would make more than %d for one inbound message (MaxMessages)", n, MaxMessages)
	}
	return nil
}

// lookup reads a stored object for Context.Lookup.
func (r *run) lookup(typ string, key map[string]any) (map[string]any, bool, error) {
	if r.lookups >= MaxLookups {
		r.overLook = true
		return nil, false, fmt.Errorf("more than %d lookups for one message (MaxLookups)", MaxLookups)
	}
	r.lookups++
	if r.look == nil {
		return nil, false, fmt.Errorf("no stored objects to look up")
	}
	obj, found, err := r.look.Object(typ, jsonvalue.CopyObject(key))
	if err != nil || !found {
		return nil, false, err
	}
	fields, err := normalize(obj)
	if err != nil {
		return nil, false, fmt.Errorf("the stored object %v", err)
	}
	return fields, true, nil
}

// copy returns a copy of v, charging it to MaxCopyBytes.
func (r *run) copy(v any) (any, error) {
	if err := r.charge(v); err != nil {
		return nil, err
	}
	return jsonvalue.Copy(v), nil
}

// charge counts v's size against MaxCopyBytes.
func (r *run) charge(v any) error {
	r.copied += jsonSize(v, MaxCopyBytes-r.copied+1)
	if r.copied > MaxCopyBytes {
		return fmt.Errorf("copies more than 8 MiB of fields for one inbound message (MaxCopyBytes)")
	}
	return nil
}

// output counts n bytes of output against MaxOutputBytes.
func (r *run) output(n int) error {
	r.outBytes += n
	if r.outBytes > MaxOutputBytes {
		return fmt.Errorf("the objects and outbound messages of one inbound message are over 8 MiB (MaxOutputBytes)")
	}
	return nil
}

// emit sends fields to dest's outbound queue.
func (r *run) emit(dest, key string, fields map[string]any) error {
	data, err := encode(fields)
	if err != nil {
		return fmt.Errorf("its fields are no JSON: %v", err)
	}
	if err := r.output(len(data)); err != nil {
		return err
	}
	r.outbound = append(r.outbound, Outbound{Key: key, Destination: dest, Value: data})
	return nil
}

// jsonSize estimates the bytes of v's JSON, stopping once past limit.
func jsonSize(v any, limit int) int {
	switch x := v.(type) {
	case nil:
		return 4
	case bool:
		return 5
	case json.Number:
		return len(x)
	case string:
		return len(x) + 2
	case []any:
		n := 2
		for _, e := range x {
			if n > limit {
				break
			}
			n += jsonSize(e, limit-n) + 1
		}
		return n
	case map[string]any:
		// Past limit the sum depends on the order of the map, but it is
		// past limit whatever the order, and no more is asked of it.
		n := 2
		for k, e := range x { //detlint:unordered only sums sizes; see above
			if n > limit {
				break
			}
			n += len(k) + 4 + jsonSize(e, limit-n)
		}
		return n
	}
	return 8
}
