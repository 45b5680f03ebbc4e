package simnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet/disk"
)

// logNode counts ticks and appends each count to a log file in every one
// of its directories, syncing them every syncEvery ticks, as a write-ahead
// log would. At start it recovers the count from the first directory's
// log; a failed read fails the start. A failed write or sync ends the
// process (env.Fatal), unless tolerant, when it is traced and skipped.
type logNode struct {
	e         env.Env
	dirs      []string
	syncEvery int
	tolerant  bool
	logs      []vfs.File
	count     int64
}

type logTick struct{}

func (logTick) Kind() string { return "log.tick" }

const logTickEvery = 10 * time.Millisecond

func startLog(syncEvery int, tolerant bool, dirs ...string) env.Start {
	return func(e env.Env) (env.Node, error) {
		n := &logNode{e: e, dirs: dirs, syncEvery: syncEvery, tolerant: tolerant}
		fs := e.FS()
		for i, dir := range dirs {
			if err := fs.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			f, err := fs.OpenReadWrite(fs.PathJoin(dir, "log"), vfs.WriteCategoryUnspecified)
			if err != nil {
				return nil, err
			}
			n.logs = append(n.logs, f)
			if i == 0 {
				st, err := f.Stat()
				if err != nil {
					return nil, err
				}
				if size := st.Size(); size >= 8 {
					var b [8]byte
					if _, err := f.ReadAt(b[:], size/8*8-8); err != nil && err != io.EOF {
						return nil, fmt.Errorf("log: read %s: %w", dir, err)
					}
					n.count = int64(binary.LittleEndian.Uint64(b[:]))
				}
			}
			for _, d := range []string{"", dir} {
				h, err := fs.OpenDir(d)
				if err != nil {
					return nil, err
				}
				if err := h.Sync(); err != nil {
					return nil, fmt.Errorf("log: sync dir %q: %w", d, err)
				}
				h.Close()
			}
		}
		e.Trace("log.recover", env.Int("count", n.count))
		e.After(logTickEvery, logTick{})
		return n, nil
	}
}

func (n *logNode) Receive(env.NodeID, env.Message) {}

func (n *logNode) Handle(env.Event) {
	n.count++
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n.count))
	for _, f := range n.logs {
		if _, err := f.WriteAt(b[:], (n.count-1)*8); err != nil {
			n.failed(err)
		}
	}
	if n.count%int64(n.syncEvery) == 0 {
		synced := true
		for _, f := range n.logs {
			if err := f.Sync(); err != nil {
				n.failed(err)
				synced = false
			}
		}
		if synced {
			n.e.Trace("log.sync", env.Int("count", n.count))
		}
	}
	n.e.After(logTickEvery, logTick{})
}

func (n *logNode) failed(err error) {
	if !n.tolerant {
		panic(env.Fatal{Err: err})
	}
	n.e.Trace("log.error", env.Str("error", err.Error()))
}

func (n *logNode) Stop() {
	for _, f := range n.logs {
		f.Close()
	}
}

func mustDiskOps(t testing.TB, words ...string) []disk.Op {
	t.Helper()
	ops, err := DiskOps(words...)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func setDiskFaults(t testing.TB, w *World, id env.NodeID, f DiskFaults) {
	t.Helper()
	if err := w.SetDiskFaults(id, f); err != nil {
		t.Fatal(err)
	}
}

// kinds returns the records of the given kinds, in order.
func kinds(recs []env.Record, ks ...string) []env.Record {
	var out []env.Record
	for _, r := range recs {
		for _, k := range ks {
			if r.Kind == k {
				out = append(out, r)
			}
		}
	}
	return out
}

// TestFailedWriteCrashesNode: a node whose log writes fail dies of it as
// a process would (node.crash), keeps only what it synced, cannot start
// while its disk still fails syncs, and starts from its synced log once
// the faults are cleared. The rest of the world runs on.
func TestFailedWriteCrashesNode(t *testing.T) {
	w := openWorld(t, Config{Seed: 3, KeepTrace: true})
	if err := w.AddNode("n1", startLog(3, false, "wal")); err != nil {
		t.Fatal(err)
	}
	if err := w.AddNode("n2", startLog(3, false, "wal")); err != nil {
		t.Fatal(err)
	}
	// n1 counts 1..4 (ticks at 10..40 ms) and syncs at 3; the write of 5
	// at 50 ms fails.
	run(t, w, 45*time.Millisecond)
	setDiskFaults(t, w, "n1", DiskFaults{Ops: mustDiskOps(t, "write", "sync"), Probability: 1, Under: "wal"})
	run(t, w, 100*time.Millisecond)
	if w.Up("n1") || !w.Up("n2") {
		t.Fatalf("n1 up %v, n2 up %v: n1 should have crashed, n2 not", w.Up("n1"), w.Up("n2"))
	}
	if got := w.DiskErrors("n1"); got != 1 {
		t.Fatalf("DiskErrors(n1) = %d, want 1 (the write that killed it)", got)
	}
	// The faults outlive the crash: the restart's directory sync fails.
	w.Restart("n1")
	if w.Up("n1") {
		t.Fatal("n1 started although its disk fails every sync under wal")
	}
	run(t, w, 150*time.Millisecond)
	setDiskFaults(t, w, "n1", DiskFaults{})
	w.Restart("n1")
	run(t, w, 200*time.Millisecond)
	if !w.Up("n1") {
		t.Fatal("n1 did not restart after the faults were cleared")
	}
	if got := w.DiskErrors("n1"); got != 2 {
		t.Fatalf("DiskErrors(n1) = %d, want 2", got)
	}

	recs := records(t, w)
	var got []string
	for _, r := range recs {
		if r.Node != "n1" {
			continue
		}
		switch r.Kind {
		case "node.start", "node.crash", "node.fail":
			got = append(got, fmt.Sprintf("%d %s inc=%d %s", r.Time/1e6, r.Kind, num(r, "inc"), str(r, "error")))
		case "disk.faults":
			p, _ := r.Get("probability")
			got = append(got, fmt.Sprintf("%d disk.faults ops=%s p=%v under=%s", r.Time/1e6, str(r, "ops"), p.Value(), str(r, "under")))
		case "disk.error":
			got = append(got, fmt.Sprintf("%d disk.error %s %s", r.Time/1e6, str(r, "op"), str(r, "path")))
		case "log.recover", "log.sync":
			got = append(got, fmt.Sprintf("%d %s %d", r.Time/1e6, r.Kind, num(r, "count")))
		}
	}
	want := []string{
		"0 node.start inc=1 ",
		"0 log.recover 0",
		"30 log.sync 3",
		"45 disk.faults ops=write,sync p=1 under=wal",
		"50 disk.error write wal/log",
		"50 node.crash inc=1 write wal/log: simnet: injected I/O error",
		"100 node.start inc=2 ",
		"100 disk.error sync wal",
		`100 node.fail inc=2 log: sync dir "wal": sync wal: simnet: injected I/O error`,
		"150 disk.faults ops= p=0 under=",
		"150 node.start inc=3 ",
		// 4 was written but never synced: the crash lost it.
		"150 log.recover 3",
		"180 log.sync 6",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("n1's trace:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// n2, on the same ticks, was never touched.
	for _, r := range kinds(recs, "disk.error", "node.crash", "node.fail") {
		if r.Node != "n1" {
			t.Fatalf("%s on %s, which has no faults", r.Kind, r.Node)
		}
	}
	if w.DiskErrors("n2") != 0 {
		t.Fatalf("DiskErrors(n2) = %d", w.DiskErrors("n2"))
	}
}

// TestFaultsOnlyUnder: faults on "wal" never touch a file outside it, not
// even one whose name starts with "wal".
func TestFaultsOnlyUnder(t *testing.T) {
	w := openWorld(t, Config{Seed: 4, KeepTrace: true})
	if err := w.AddNode("n1", startLog(2, false, "walnut", "data")); err != nil {
		t.Fatal(err)
	}
	all := mustDiskOps(t, "create", "link", "open", "opendir", "remove", "rename", "reuseforwrite",
		"mkdirall", "lock", "list", "stat", "read", "write", "sync", "close")
	setDiskFaults(t, w, "n1", DiskFaults{Ops: all, Probability: 1, Under: "/wal/"})
	run(t, w, time.Second)
	w.Kill("n1")
	w.Restart("n1")
	run(t, w, 2*time.Second)
	if !w.Up("n1") || w.DiskErrors("n1") != 0 {
		t.Fatalf("n1 up %v with %d disk errors; it never touches wal", w.Up("n1"), w.DiskErrors("n1"))
	}
	// The faults are in force under wal all the same.
	_, err := w.Disk("n1").Create("wal/probe", vfs.WriteCategoryUnspecified)
	if !errors.Is(err, ErrInjected) || !strings.Contains(err.Error(), "create wal/probe") {
		t.Fatalf("creating wal/probe: %v, want an injected error naming the op and path", err)
	}
	if w.DiskErrors("n1") != 1 {
		t.Fatalf("DiskErrors = %d after one injected error", w.DiskErrors("n1"))
	}
	recs := records(t, w)
	if f := kinds(recs, "disk.faults"); len(f) != 1 || str(f[0], "under") != "wal" ||
		str(f[0], "ops") != "create,link,open,opendir,remove,rename,reuseforwrite,mkdirall,lock,list,stat,read,write,sync,close" {
		t.Fatalf("disk.faults events: %v", f)
	}
	if s := kinds(recs, "log.sync"); len(s) < 90 {
		t.Fatalf("only %d syncs in two seconds of 10 ms ticks", len(s))
	}
}

// faultyRun ticks a node that survives its failed writes for ten seconds
// with half of them failing, and returns the world.
func faultyRun(t testing.TB, seed uint64) *World {
	w := openWorld(t, Config{Seed: seed, KeepTrace: true})
	if err := w.AddNode("n1", startLog(5, true, "wal")); err != nil {
		t.Fatal(err)
	}
	setDiskFaults(t, w, "n1", DiskFaults{Ops: mustDiskOps(t, "write"), Probability: 0.5, Under: "wal"})
	run(t, w, 10*time.Second)
	return w
}

// TestFaultProbability: with probability 0.5 about half of the writes
// fail, each one traced and counted, and the same seed fails the same
// ones.
func TestFaultProbability(t *testing.T) {
	w := faultyRun(t, 5)
	recs := records(t, w)
	errs, failed := kinds(recs, "disk.error"), kinds(recs, "log.error")
	writes := int64(1000) // one a tick
	if n := w.DiskErrors("n1"); n != int64(len(errs)) || n != int64(len(failed)) {
		t.Fatalf("DiskErrors %d, %d disk.error events, %d failures seen by the node", n, len(errs), len(failed))
	}
	// Binomial(1000, 0.5): the standard deviation is about 16.
	if n := w.DiskErrors("n1"); math.Abs(float64(n)-float64(writes)/2) > 80 {
		t.Fatalf("%d of %d writes failed with probability 0.5", n, writes)
	}
	hash := w.TraceHash()
	w.Close()
	again := faultyRun(t, 5)
	if again.TraceHash() != hash {
		t.Fatal("the same seed gave a different trace")
	}
	again.Close()
	if faultyRun(t, 6).TraceHash() == hash {
		t.Fatal("another seed failed exactly the same writes")
	}
}

// TestReadFaultFailsRestart: a node that cannot read its log cannot start
// (node.fail, the node stays down); once the reads work it starts from
// what it had synced.
func TestReadFaultFailsRestart(t *testing.T) {
	w := openWorld(t, Config{Seed: 8, KeepTrace: true})
	if err := w.AddNode("n1", startLog(1, false, "wal")); err != nil {
		t.Fatal(err)
	}
	run(t, w, 55*time.Millisecond) // counts 1..5, each synced
	setDiskFaults(t, w, "n1", DiskFaults{Ops: mustDiskOps(t, "read"), Probability: 1, Under: "wal"})
	run(t, w, 100*time.Millisecond) // a running node that does not read is unaffected
	w.Kill("n1")
	if w.Restart("n1"); w.Up("n1") {
		t.Fatal("n1 started although it cannot read its log")
	}
	if w.Restart("n1"); w.Up("n1") {
		t.Fatal("n1 started at the second try although it cannot read its log")
	}
	setDiskFaults(t, w, "n1", DiskFaults{})
	if w.Restart("n1"); !w.Up("n1") {
		t.Fatal("n1 did not start once its disk read again")
	}
	recs := records(t, w)
	fails := kinds(recs, "node.fail")
	if len(fails) != 2 || !strings.Contains(str(fails[0], "error"), "read wal/log: simnet: injected I/O error") {
		t.Fatalf("node.fail events %v, want two failed reads", fails)
	}
	rec := kinds(recs, "log.recover")
	if len(rec) != 2 || num(rec[1], "count") != 10 {
		t.Fatalf("log.recover events %v, want the second to find count 10", rec)
	}
	if w.DiskErrors("n1") != 2 {
		t.Fatalf("DiskErrors = %d, want 2", w.DiskErrors("n1"))
	}
}

// fatalStart is a node whose start dies of a failed disk.
func fatalStart(e env.Env) (env.Node, error) {
	f, err := e.FS().Create("unsynced", vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, err
	}
	f.Write([]byte("lost"))
	panic(env.Fatal{Err: errors.New("disk on fire")})
}

// TestFatalInStart: a start that panics with env.Fatal fails like one
// that returns an error (node.fail), and its unsynced writes are lost as
// in a crash; the world runs on.
func TestFatalInStart(t *testing.T) {
	w := openWorld(t, Config{Seed: 9, KeepTrace: true})
	if err := w.AddNode("n1", fatalStart); err != nil {
		t.Fatal(err)
	}
	w.At(10*time.Millisecond, func() { w.Restart("n1") })
	run(t, w, 20*time.Millisecond)
	if w.Up("n1") {
		t.Fatal("n1 is up")
	}
	fails := kinds(records(t, w), "node.fail")
	if len(fails) != 2 || str(fails[1], "error") != "disk on fire" || num(fails[1], "inc") != 2 {
		t.Fatalf("node.fail events %v", fails)
	}
	if _, err := w.Disk("n1").Stat("unsynced"); err == nil {
		t.Fatal("a file never synced survived the start's death")
	}
}

// fatalOn dies of env.Fatal (or, as a pointer, of a bug) when it handles
// an event.
type fatalOn struct{ pointer bool }

func (fatalOn) Receive(env.NodeID, env.Message) {}
func (f fatalOn) Handle(env.Event) {
	if f.pointer {
		panic(&env.Fatal{Err: errors.New("boom")})
	}
	panic(env.Fatal{Err: errors.New("boom")})
}

// TestFatalIsACrash: env.Fatal from a node's Handle crashes that node
// under Step as under Run; a *env.Fatal is a bug like any other panic.
func TestFatalIsACrash(t *testing.T) {
	w := openWorld(t, Config{Seed: 10, KeepTrace: true})
	for _, id := range []env.NodeID{"n1", "n2"} {
		w.AddNode(id, func(e env.Env) (env.Node, error) { e.After(time.Millisecond, nudge{}); return fatalOn{}, nil })
	}
	if ok, err := w.Step(); !ok || err != nil {
		t.Fatalf("Step = %v, %v", ok, err)
	}
	if w.Up("n1") || !w.Up("n2") {
		t.Fatalf("after one step: n1 up %v, n2 up %v", w.Up("n1"), w.Up("n2"))
	}
	run(t, w, time.Second)
	if w.Up("n2") {
		t.Fatal("n2 is up")
	}
	if c := kinds(records(t, w), "node.crash"); len(c) != 2 || str(c[1], "error") != "boom" || c[1].Node != "n2" {
		t.Fatalf("node.crash events %v", c)
	}
	w.AddNode("n3", func(e env.Env) (env.Node, error) {
		e.After(time.Millisecond, nudge{})
		return fatalOn{pointer: true}, nil
	})
	var pe *PanicError
	if err := w.Run(2 * time.Second); !errors.As(err, &pe) || pe.Node != "n3" {
		t.Fatalf("a *env.Fatal panic: Run returned %v, want a PanicError", err)
	}
}

func TestDiskFaultsValidation(t *testing.T) {
	w := openWorld(t, Config{Seed: 1})
	w.AddNode("n1", startLog(1, false, "wal"))
	write := []disk.Op{disk.OpWrite}
	for _, f := range []DiskFaults{
		{Ops: write, Probability: 1.5, Under: "wal"},
		{Ops: write, Probability: -0.1, Under: "wal"},
		{Ops: write, Probability: math.NaN(), Under: "wal"},
		{Ops: write, Probability: 1},
		{Ops: write, Probability: 1, Under: "/"},
		{Ops: write, Probability: 1, Under: "../wal"},
		{Ops: []disk.Op{99}, Probability: 1, Under: "wal"},
	} {
		if err := w.SetDiskFaults("n1", f); err == nil {
			t.Errorf("SetDiskFaults(%+v) succeeded", f)
		}
	}
	ops, err := DiskOps("write", "sync", "read")
	if err != nil || len(ops) != 3 || ops[0] != disk.OpWrite || ops[1] != disk.OpSync || ops[2] != disk.OpRead {
		t.Errorf("DiskOps(write, sync, read) = %v, %v", ops, err)
	}
	if _, err := DiskOps("wrte"); err == nil {
		t.Error("DiskOps accepted wrte")
	}
}

// brokenStop dies of env.Fatal, then panics as the world stops it.
type brokenStop struct{ fatalOn }

func (brokenStop) Stop() { panic("stop broken") }

// TestPanicInStopAfterFatal: a node whose Stop panics while the world
// crashes it is a bug like any other, reported with the node's name.
func TestPanicInStopAfterFatal(t *testing.T) {
	w := openWorld(t, Config{Seed: 11})
	w.AddNode("n1", func(e env.Env) (env.Node, error) { e.After(time.Millisecond, nudge{}); return brokenStop{}, nil })
	var pe *PanicError
	if err := w.Run(time.Second); !errors.As(err, &pe) || pe.Node != "n1" || pe.Value != "stop broken" {
		t.Fatalf("Run returned %v, want a PanicError from n1's Stop", err)
	}
	if w.Up("n1") {
		t.Fatal("n1 is up")
	}
}
