package live

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
)

// MembersFile is where an instance keeps the cluster it formed: who is in
// it and where they were last seen. The engine's log holds the
// configuration itself; this file is what the instance needs before the
// engine starts: the bootstrap spec (identical on every instance) and its
// peers' addresses.
const MembersFile = "members.json"

// DefaultBuckets is how many buckets keys are spread over.
const DefaultBuckets = 256

type membersFile struct {
	Cluster           string         `json:"cluster"` // hash of the spec: instances that disagree on it are not one cluster
	ReplicationFactor int            `json:"replication_factor"`
	Buckets           int            `json:"buckets"`
	Members           []memberRecord `json:"members"` // by name
	// Settings are the operator settings the cluster formed with
	// (cluster.Spec.Settings); none for a file written before there were
	// any.
	Settings map[string]string `json:"settings,omitempty"`
	// Name is the cluster's name (cluster.Spec.Name); "" for none.
	Name string `json:"name,omitempty"`
	// JoinedWith, for an instance that joined the cluster after it
	// formed, is the configuration it joined with (cluster.Config's
	// encoding): its Raft ID and peers until it catches up.
	JoinedWith json.RawMessage `json:"joined_with,omitempty"`
}

type memberRecord struct {
	Name     env.NodeID        `json:"name"`
	PeerAddr string            `json:"peer_addr"`
	HTTPAddr string            `json:"http_addr,omitempty"`
	Domain   map[string]string `json:"domain,omitempty"`
}

func (r memberRecord) member() Member { return Member(r) }

func recordOf(m Member) memberRecord { return memberRecord(m) }

// spec is the bootstrap topology the file describes.
func (f *membersFile) spec() cluster.Spec {
	s := cluster.Spec{Name: f.Name, ReplicationFactor: f.ReplicationFactor, Buckets: f.Buckets, Settings: f.Settings}
	for _, m := range f.Members {
		s.Instances = append(s.Instances, cluster.InstanceSpec{Name: m.Name, Domain: cluster.Domain(m.Domain)})
	}
	return s
}

// clusterID names a spec: a hash of its instances, their domains, the
// replication factor, the bucket count and the settings. Instances
// started with different settings form no cluster together: each would
// bootstrap group 0 with its own. A spec without settings hashes as
// before settings existed, so that older members.json files still match.
func clusterID(f *membersFile) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "rf=%d buckets=%d", f.ReplicationFactor, f.Buckets)
	for _, m := range f.Members {
		fmt.Fprintf(h, ";%s@%s", m.Name, cluster.Domain(m.Domain))
	}
	for _, k := range slices.Sorted(maps.Keys(f.Settings)) {
		fmt.Fprintf(h, ";set %q=%q", k, f.Settings[k])
	}
	if f.Name != "" {
		fmt.Fprintf(h, ";name %q", f.Name)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// memberBook is what an instance knows of its peers. Transport goroutines
// (hellos) and the formation loop share it.
type memberBook struct {
	mu     sync.Mutex
	dir    string
	self   Member
	known  map[env.NodeID]Member
	formed *membersFile // nil until the cluster formed
	// instances are the instances of the configuration this instance
	// applied (from the engine's raft.conf of group 0): members that
	// joined after the cluster formed are known by them.
	instances map[env.NodeID]bool
}

// setInstances records the instances group 0 has as members.
func (b *memberBook) setInstances(names []env.NodeID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.instances = map[env.NodeID]bool{}
	for _, n := range names {
		b.instances[n] = true
	}
}

func loadMembers(dir string) (*memberBook, error) {
	b := &memberBook{dir: dir, known: map[env.NodeID]Member{}}
	data, err := os.ReadFile(filepath.Join(dir, MembersFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return b, nil
	case err != nil:
		return nil, fmt.Errorf("live: %w", err)
	}
	var f membersFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("live: %s: %w", filepath.Join(dir, MembersFile), err)
	}
	if len(f.Members) == 0 || f.JoinedWith == nil && f.Cluster != clusterID(&f) {
		return nil, fmt.Errorf("live: %s: no members, or its cluster ID does not match them", filepath.Join(dir, MembersFile))
	}
	b.formed = &f
	for _, m := range f.Members {
		b.known[m.Name] = m.member()
	}
	return b, nil
}

func (b *memberBook) setSelf(m Member) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.self = m
	b.known[m.Name] = m
}

// list is every known member, by name.
func (b *memberBook) list() []Member {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.SortedFunc(maps.Values(b.known), func(x, y Member) int { return cmp.Compare(x.Name, y.Name) })
}

func (b *memberBook) formedFile() *membersFile {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.formed
}

// add records a member that joined the formed cluster.
func (b *memberBook) add(m Member) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.known[m.Name] = m
}

// hello is what this instance tells a peer.
func (b *memberBook) hello() *Hello {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := &Hello{From: b.self, Members: slices.SortedFunc(maps.Values(b.known), func(x, y Member) int { return cmp.Compare(x.Name, y.Name) })}
	if b.formed != nil {
		h.Bootstrapped, h.Cluster = true, b.formed.Cluster
	}
	return h
}

// learn takes in what a peer's hello says. Before the cluster forms, every
// member it names is a candidate; after, only the formed members' addresses
// change. It returns the members whose address is new, and the formed
// cluster the hello describes if this instance is in it and has formed
// nothing yet.
func (b *memberBook) learn(h *Hello) (moved []Member, adopt *membersFile, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.formed != nil && h.Bootstrapped && h.Cluster != b.formed.Cluster {
		return nil, nil, fmt.Errorf("%s belongs to cluster %s, this instance to %s", h.From.Name, h.Cluster, b.formed.Cluster)
	}
	for _, m := range append([]Member{h.From}, h.Members...) {
		if m.Name == "" || m.Name == b.self.Name {
			continue
		}
		// After forming, others' word counts only for members; a peer's
		// word on itself always does (an instance that joined later).
		if _, member := b.known[m.Name]; b.formed != nil && !member && !b.instances[m.Name] && m.Name != h.From.Name {
			continue
		}
		// A peer is the authority on itself; others' word only fills gaps.
		if old, ok := b.known[m.Name]; !ok || (m.Name == h.From.Name && old.PeerAddr != m.PeerAddr) {
			moved = append(moved, m)
		}
		if _, ok := b.known[m.Name]; !ok || m.Name == h.From.Name {
			b.known[m.Name] = m
		}
	}
	if b.formed == nil && h.Bootstrapped && slices.ContainsFunc(h.Members, func(m Member) bool { return m.Name == b.self.Name }) {
		f := &membersFile{Cluster: h.Cluster}
		for _, m := range h.Members {
			f.Members = append(f.Members, recordOf(m))
		}
		adopt = f
	}
	return moved, adopt, nil
}

// form records the formed cluster in members.json, durably.
func (b *memberBook) form(f *membersFile) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSynced(filepath.Join(b.dir, MembersFile), append(data, '\n')); err != nil {
		return fmt.Errorf("live: %w", err)
	}
	b.formed = f
	for name := range b.known {
		if !slices.ContainsFunc(f.Members, func(r memberRecord) bool { return r.Name == name }) {
			delete(b.known, name)
		}
	}
	return nil
}

// writeFileSynced replaces path with data: a temporary file, synced,
// renamed over it, and the directory synced, so that a crash leaves the
// old file or the new, whole.
func writeFileSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// onHello answers a peer's hello (on a transport goroutine).
func (n *Node) onHello(h *Hello) *Hello {
	<-n.opened
	if h.Join != "" && n.members.formedFile() != nil {
		config, err := n.admit(h)
		reply := n.members.hello()
		if err != nil {
			n.log.Warn("a join failed", "instance", string(h.From.Name), "peer", h.From.PeerAddr, "error", err)
			return reply
		}
		reply.Config = config
		return reply
	}
	moved, adopt, err := n.members.learn(h)
	if err != nil {
		n.log.Error("a peer of another cluster said hello", "peer", h.From.PeerAddr, "error", err)
		return n.members.hello()
	}
	for _, m := range moved {
		n.transport.SetPeer(m.Name, m.PeerAddr)
	}
	if adopt != nil {
		select {
		case n.adopt <- adopt:
		default:
		}
	}
	return n.members.hello()
}

// discoverEvery is how often a forming instance says hello to the
// addresses it knows.
const discoverEvery = 250 * time.Millisecond

// Form joins this instance to its cluster and starts the engine. An
// instance that formed its cluster before starts at once. Otherwise, with
// BootstrapExpect, it says hello to the Join addresses and to every
// instance they name until BootstrapExpect instances know each other, then
// all of them bootstrap the same cluster: every instance can be started
// with the same command line. With neither Join nor BootstrapExpect it
// forms a cluster of itself alone.
func (n *Node) Form(ctx context.Context) error {
	f := n.members.formedFile()
	if f == nil {
		var err error
		if f, err = n.discover(ctx); err != nil {
			return err
		}
		if err := n.members.form(f); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(n.cfg.DataDir, JoiningFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			n.log.Warn("the join's ID stays on disk", "error", err)
		}
		n.log.Info("the cluster formed", "cluster", f.Cluster, "members", len(f.Members))
	}
	if len(n.cfg.Settings) > 0 && !maps.Equal(n.cfg.Settings, f.Settings) {
		n.log.Warn("settings count only when the cluster first forms: those given take no effect here",
			"given", n.cfg.Settings, "formed_with", f.Settings, "joined", f.JoinedWith != nil)
	}
	for _, m := range n.members.list() {
		if m.Name != n.cfg.Name {
			n.transport.SetPeer(m.Name, m.PeerAddr)
		}
	}
	go n.greet()
	cfg := n.cfg.Engine
	cfg.Spec = f.spec()
	if f.JoinedWith != nil {
		join, err := joinInfo(n.cfg.Name, f.JoinedWith)
		if err != nil {
			return err
		}
		cfg.Join = join
	}
	if err := n.startEngine(cfg); err != nil {
		return fmt.Errorf("live: %s: the engine did not start: %w", n.cfg.Name, err)
	}
	return nil
}

func (n *Node) discover(ctx context.Context) (*membersFile, error) {
	expect := n.cfg.BootstrapExpect
	switch {
	case expect == 0 && len(n.cfg.Join) == 0:
		expect = 1
	case expect == 0:
		return n.joinFormed(ctx)
	case expect < 0:
		return nil, fmt.Errorf("live: bootstrap-expect %d: want at least 1", expect)
	}
	rf := n.cfg.ReplicationFactor
	if rf == 0 {
		rf = expect
	}
	if expect%rf != 0 {
		return nil, fmt.Errorf("live: %d instances are not a multiple of the replication factor %d", expect, rf)
	}
	ticker := time.NewTicker(discoverEvery)
	defer ticker.Stop()
	for {
		known := n.members.list()
		if len(known) > expect {
			return nil, fmt.Errorf("live: %d instances answered (%s), but bootstrap-expect is %d", len(known), names(known), expect)
		}
		if len(known) == expect {
			f := &membersFile{ReplicationFactor: rf, Buckets: DefaultBuckets, Settings: settings(n.cfg.Settings), Name: n.cfg.ClusterName}
			for _, m := range known {
				f.Members = append(f.Members, recordOf(m))
			}
			f.Cluster = clusterID(f)
			return f, nil
		}
		addrs := slices.Clone(n.cfg.Join)
		for _, m := range known {
			if m.Name != n.cfg.Name && !slices.Contains(addrs, m.PeerAddr) {
				addrs = append(addrs, m.PeerAddr)
			}
		}
		for _, addr := range addrs {
			if addr == n.self().PeerAddr {
				continue
			}
			actx, cancel := context.WithTimeout(ctx, discoverEvery*2)
			reply, err := n.transport.Exchange(actx, addr, n.members.hello())
			cancel()
			if err != nil {
				n.log.Debug("no hello yet", "addr", addr, "error", err)
				continue
			}
			n.onHello(reply)
		}
		select {
		case f := <-n.adopt:
			// Another instance formed a cluster with this one in it.
			f.ReplicationFactor, f.Buckets, f.Settings, f.Name = rf, DefaultBuckets, settings(n.cfg.Settings), n.cfg.ClusterName
			if clusterID(f) != f.Cluster {
				return nil, fmt.Errorf("live: the cluster %s formed without this instance's settings (replication factor %d, settings %v, cluster name %q): start every instance with the same --bootstrap-expect, --replication-factor, --setting and --cluster-name", f.Cluster, rf, f.Settings, f.Name)
			}
			return f, nil
		case <-ticker.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("live: %d of %d instances found (%s) when forming stopped: %w", len(known), expect, names(known), ctx.Err())
		}
	}
}

// settings copies the settings an instance was given, nil for none.
func settings(s map[string]string) map[string]string {
	if len(s) == 0 {
		return nil
	}
	return maps.Clone(s)
}

// greet says hello once to every Join address and every member it knows,
// retrying those that do not answer, so that peers learn where this
// instance is now: peers whose addresses changed since the cluster formed
// (which it cannot reach at the old ones) through the command line, and
// every member after this instance joined. Hellos on every connection
// keep addresses current afterwards.
func (n *Node) greet() {
	pending := slices.Clone(n.cfg.Join)
	for _, m := range n.members.list() {
		if m.Name != n.cfg.Name && !slices.Contains(pending, m.PeerAddr) {
			pending = append(pending, m.PeerAddr)
		}
	}
	for len(pending) > 0 {
		var left []string
		for _, addr := range pending {
			if addr == n.self().PeerAddr {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), discoverEvery*2)
			reply, err := n.transport.Exchange(ctx, addr, n.members.hello())
			cancel()
			if err != nil {
				left = append(left, addr)
				continue
			}
			n.onHello(reply)
		}
		pending = left
		select {
		case <-n.quit:
			return
		case <-time.After(4 * discoverEvery):
		}
	}
}

func names(ms []Member) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m.Name)
	}
	return fmt.Sprint(s)
}

// joinInfo is what a joining instance's engine starts with, from the
// configuration it joined with.
func joinInfo(self env.NodeID, config []byte) (*node.JoinInfo, error) {
	c, err := cluster.Decode(config)
	if err != nil {
		return nil, fmt.Errorf("live: %s: joined_with: %w", MembersFile, err)
	}
	in, ok := c.Instance(self)
	if !ok {
		return nil, fmt.Errorf("live: %s: joined_with does not hold %s", MembersFile, self)
	}
	return &node.JoinInfo{RaftID: in.RaftID, Peers: c.Instances}, nil
}

// joinFormed asks the members at the Join addresses, in turn, to add this
// instance to their formed cluster, until one has.
func (n *Node) joinFormed(ctx context.Context) (*membersFile, error) {
	joinID, err := joinID(n.cfg.DataDir, n.cfg.Name)
	if err != nil {
		return nil, err
	}
	ticker := time.NewTicker(discoverEvery)
	defer ticker.Stop()
	var last error
	for {
		for _, addr := range n.cfg.Join {
			if addr == n.self().PeerAddr {
				continue
			}
			h := n.members.hello()
			h.Join = joinID
			actx, cancel := context.WithTimeout(ctx, joinTimeout+time.Second)
			reply, err := n.transport.Exchange(actx, addr, h)
			cancel()
			switch {
			case err != nil:
				last = err
				continue
			case !reply.Bootstrapped || len(reply.Config) == 0:
				last = fmt.Errorf("%s (%s) did not add this instance: it has formed no cluster, or the join did not commit in time", reply.From.Name, addr)
				continue
			}
			if _, err := joinInfo(n.cfg.Name, reply.Config); err != nil {
				return nil, err
			}
			f := &membersFile{Cluster: reply.Cluster, JoinedWith: reply.Config}
			for _, m := range append([]Member{n.self()}, reply.Members...) {
				if !slices.ContainsFunc(f.Members, func(r memberRecord) bool { return r.Name == m.Name }) {
					f.Members = append(f.Members, recordOf(m))
				}
			}
			slices.SortFunc(f.Members, func(a, b memberRecord) int { return cmp.Compare(a.Name, b.Name) })
			for _, m := range reply.Members {
				if m.Name != n.cfg.Name {
					n.members.add(m)
				}
			}
			return f, nil
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("live: %s could not join through %v: %v (%w)", n.cfg.Name, n.cfg.Join, last, ctx.Err())
		}
	}
}

// JoiningFile holds, in a data directory, the ID of the join its
// instance asks for until members.json records the admission: an
// instance that crashed after the cluster admitted it asks again under
// the same ID, and is admitted again (cluster.Config.join).
const JoiningFile = "joining"

// joinID is the ID of this instance's join: the one it asked for before,
// or a new one, recorded durably before it is first asked for.
func joinID(dir string, name env.NodeID) (string, error) {
	path := filepath.Join(dir, JoiningFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(data))
		if !strings.HasPrefix(id, "join-") || len(id) > 200 {
			return "", fmt.Errorf("live: %s: not a join ID: %.40q", path, id)
		}
		return id, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("live: %w", err)
	}
	id := fmt.Sprintf("join-%s-%016x", name, osSeed())
	if err := writeFileSynced(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("live: %w", err)
	}
	return id, nil
}

// joinTimeout bounds how long a member waits for a join it proposed to
// commit before it answers.
const joinTimeout = 10 * time.Second

// admit proposes the join of the instance that said h, on a member of a
// formed cluster, and returns the configuration once the join is applied.
// A retry of the same join (the same ID) succeeds again; a join under the
// name of an instance the cluster has fails. It runs on a transport
// goroutine.
func (n *Node) admit(h *Hello) ([]byte, error) {
	if !n.started.Load() {
		return nil, ErrNotFormed
	}
	id := h.Join
	done := n.awaitResult(id)
	cmd := cluster.Join(h.From.Name, cluster.Domain(h.From.Domain)).Encode()
	if !n.post(func() {
		if n.eng != nil {
			n.eng.Handle(&node.Propose{ID: id, Group: "config", Data: cmd, Timeout: joinTimeout})
		}
	}) {
		return nil, errors.New("the instance is stopping")
	}
	var outcome, why string
	select {
	case r := <-done:
		outcome, why = r[0], r[1]
	case <-time.After(joinTimeout + time.Second):
		outcome = "timeout"
	}
	n.forgetResult(id)
	if outcome != "ok" {
		return nil, fmt.Errorf("the join of %s ended %s: %s", h.From.Name, outcome, why)
	}
	conf := make(chan []byte, 1)
	if !n.post(func() {
		if eng, ok := n.eng.(*node.Node); ok && eng != nil {
			c := eng.Configuration()
			if _, in := c.Instance(h.From.Name); in {
				conf <- c.Encode()
				return
			}
		}
		conf <- nil
	}) {
		return nil, errors.New("the instance is stopping")
	}
	c := <-conf
	if c == nil {
		return nil, fmt.Errorf("the join of %s ended %s %s", h.From.Name, outcome, why)
	}
	n.members.add(h.From)
	n.transport.SetPeer(h.From.Name, h.From.PeerAddr)
	n.log.Info("an instance joined", "instance", string(h.From.Name), "peer", h.From.PeerAddr)
	return c, nil
}
