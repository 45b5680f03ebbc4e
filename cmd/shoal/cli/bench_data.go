package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/model"
)

// The --api data workload: objects of the example model's Customer type
// (scenarios/examples/model.yaml) through the data API, /v1/data,
// instead of raw keys through /v1/kv. A write is a whole Customer at the
// latest version; the key is its id, and --value-size bytes go into its
// first name.
const (
	apiKV   = "kv"
	apiData = "data"

	benchDataType = "Customer"
)

// What --api data measures, for the report.
var (
	dataWrite = "PUT /v1/data/Customer/{key}: validated against the model, stored with its index entries and history, acknowledged once a majority of the replicaset has it on disk"
	dataRead  = map[string]string{
		consistencyLinearizable: "GET /v1/data/Customer/{key}: the object's leader answers after a ReadIndex round (linearizable)",
		consistencyStale:        "GET /v1/data/Customer/{key}?consistency=stale: a member of the replicaset answers from its own replica (not linearizable)",
	}
)

// dataPath is the path of the Customer with id key.
func dataPath(key string) string {
	return "/v1/data/" + benchDataType + "/" + url.PathEscape(key)
}

// dataBody appends to buf the Customer with id key whose first name is
// value (letters and digits: nothing to escape).
func dataBody(buf []byte, key string, value []byte) []byte {
	buf = append(buf, `{"id":"`...)
	buf = append(buf, key...)
	buf = append(buf, `","first_name":"`...)
	buf = append(buf, value...)
	buf = append(buf, `","last_name":"Bench","email":null,"created":"2026-01-01T00:00:00Z","tier":"basic","newsletter":false}`...)
	return buf
}

// probeDataModel checks that the model in force at addr has a Customer
// type whose latest version takes dataBody's objects, so that a run
// against a cluster without the example model stops at once with the
// reason rather than counting every write as a failure.
func probeDataModel(ctx context.Context, addr string, c benchConfig) error {
	hc := newBenchHTTPClient(min(c.timeout, 3*time.Second), c.access)
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/v1/model?format=yaml", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	src, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("--api data: GET /v1/model answered %d: %s (start the cluster with the example model: shoal serve --dev, or --model scenarios/examples/model.yaml)", resp.StatusCode, strings.TrimSpace(string(src)))
	}
	m, err := model.Parse("model.yaml", src)
	if err != nil {
		return fmt.Errorf("--api data: the model in force does not parse here: %v", err)
	}
	t, ok := m.Type(benchDataType)
	if !ok {
		return fmt.Errorf("--api data: the model in force has no type %s (start the cluster with the example model: shoal serve --dev, or --model scenarios/examples/model.yaml)", benchDataType)
	}
	if _, err := t.Validate(t.Latest(), dataBody(nil, "k1", []byte("v"))); err != nil {
		return fmt.Errorf("--api data: the model's %s does not take bench's objects (%v): bench writes the example model's Customer", benchDataType, err)
	}
	return nil
}
