package runner

import (
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// A pipeline that declares outbound destinations gets an endpoint for
// each, and the outbound check: its receiver cut off, failing and slow
// in turn, crm-sync takes every customer once in effect after the
// faults; the runner waits for the queue to drain and records it, the
// faults check counts each fault, and the trace alone judges the run
// again.
func TestOutbound(t *testing.T) {
	s := parse(t, `name: outbound
cluster: {model: example, pipeline: example-outbound}
workload: {kind: ingest, clients: 2, rate: 20, bad: 0}
duration: 12s
nemesis:
  - {at: 2s, for: 3s, fault: endpoint, endpoint: crm-sync, mode: down}
  - {at: 6s, for: 2s, fault: endpoint, endpoint: crm-sync, mode: fail, fail_rate: 0.5}
  - {at: 9s, for: 2s, fault: endpoint, endpoint: crm-sync, mode: slow, latency: 300ms}
final: {recover: 2s}
`)
	if !slices.Contains(s.Checks, scenario.CheckOutbound) {
		t.Fatalf("checks %v: a pipeline with destinations makes outbound a default", s.Checks)
	}
	o := mustRun(t, s, 2)
	for _, r := range o.Results.Checkers {
		if r.Verdict != checker.Valid {
			t.Errorf("%s: %s: %s", r.Checker, r.Verdict, r.Explanation)
		}
	}
	started := map[env.NodeID]bool{}
	refused := 0
	var finals []env.Record
	for _, r := range o.Records {
		switch r.Kind {
		case "node.start":
			started[r.Node] = true
		case "endpoint.refuse":
			refused++
		case "outbound.final":
			finals = append(finals, r)
		}
	}
	for _, dest := range []string{"billing", "crm-sync", "test-sink", "warehouse"} {
		if !started["ext/"+env.NodeID(dest)] {
			t.Errorf("no endpoint for %s started", dest)
		}
	}
	if refused == 0 {
		t.Error("crm-sync refused nothing while failing")
	}
	if len(finals) != 1 || finals[0].Node != Source {
		t.Fatalf("outbound.final records: %v", finals)
	}
	if tail, _ := finals[0].Int("tail"); tail < 100 {
		t.Fatalf("the queue gave %d positions, want one per customer", tail)
	}
	again, _ := Check(s, o.Records)
	if !slices.Equal(again.Checkers, o.Results.Checkers) {
		t.Fatalf("judged again from the trace: %+v, want %+v", again.Checkers, o.Results.Checkers)
	}
}

// Without the final reads of the queues, the outbound check cannot judge.
func TestCheckOutboundWithoutFinals(t *testing.T) {
	r := CheckOutbound(nil)
	if r.Verdict != checker.Unknown || !strings.Contains(r.Explanation, "no final read") {
		t.Fatalf("got %s: %s", r.Verdict, r.Explanation)
	}
	recs := []env.Record{record(t, `{"time":1,"node":"runner","kind":"outbound.final","replicaset":"rs1","replica":"","applied":0,"tail":0,"waiting":"","repaired":""}`)}
	if r := CheckOutbound(recs); r.Verdict != checker.Unknown || !strings.Contains(r.Explanation, "no replica of rs1") {
		t.Fatalf("got %s: %s", r.Verdict, r.Explanation)
	}
	recs[0] = record(t, `{"time":1,"node":"runner","kind":"outbound.final","replicaset":"rs1","replica":"n1","applied":9,"tail":3,"waiting":"3","repaired":"1"}`)
	finals, why := OutboundFinals(recs)
	if why != "" || len(finals) != 1 || !slices.Equal(finals[0].Waiting, []uint64{3}) || !slices.Equal(finals[0].Repaired, []uint64{1}) || finals[0].Tail != 3 {
		t.Fatalf("got %+v, %q", finals, why)
	}
	if r := CheckOutbound(recs); r.Verdict != checker.Invalid || !strings.Contains(r.Explanation, "still wait") {
		t.Fatalf("got %s: %s", r.Verdict, r.Explanation)
	}
}

func record(t *testing.T, line string) env.Record {
	t.Helper()
	r, err := env.ParseRecord([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
