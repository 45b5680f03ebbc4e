package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/shoaldb/shoal/core/model"
)

// devObject is one object of a dev dataset (scenarios/examples/dataset.json):
// its type, the version of that type it is written at (0: the latest)
// and the object.
type devObject struct {
	Type    string          `json:"type"`
	Version int             `json:"version,omitempty"`
	Object  json.RawMessage `json:"object"`
}

// parseDataset reads a dev dataset and checks every object against m,
// so that an object the model refuses is named by its place in the file.
func parseDataset(file string, data []byte, m *model.Model) ([]devObject, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var objs []devObject
	if err := dec.Decode(&objs); err != nil {
		return nil, fmt.Errorf("%s: want a JSON array of {\"type\", \"version\"?, \"object\"}: %w", file, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the array", file)
	}
	for i, o := range objs {
		t, ok := m.Type(o.Type)
		if !ok {
			return nil, fmt.Errorf("%s: object %d: the model has no type %q", file, i, o.Type)
		}
		v := o.Version
		if v == 0 {
			v = t.Latest()
		}
		if _, err := t.Validate(v, o.Object); err != nil {
			return nil, fmt.Errorf("%s: object %d (%s version %d): %w", file, i, o.Type, v, err)
		}
	}
	return objs, nil
}

// loadDataset writes objs through the data API at base, each with
// PUT /v1/data/{type}?version=N, so that they are validated, upgraded
// and indexed as any client's. An object the cluster cannot take yet
// (503, the model still reaching every replicaset) is tried again with
// p's pauses; anything else ends the load with an error naming the
// object.
func loadDataset(ctx context.Context, base string, objs []devObject, log *slog.Logger, p retryPolicy) error {
	client := &http.Client{Timeout: 10 * time.Second}
	for i, o := range objs {
		u := base + "/v1/data/" + url.PathEscape(o.Type)
		if o.Version > 0 {
			u += "?version=" + strconv.Itoa(o.Version)
		}
		pause := p.first
		for attempt := 1; ; attempt++ {
			retry, err := putDevObject(ctx, client, u, o.Object)
			if err == nil {
				break
			}
			if !retry || attempt >= p.attempts || ctx.Err() != nil {
				return fmt.Errorf("dataset: object %d (%s): %w", i, o.Type, err)
			}
			log.Info("dataset: not written yet, trying again", "object", i, "in", pause, "error", err)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return ctx.Err()
			}
			pause = min(2*pause, p.most)
		}
	}
	return nil
}

// putDevObject makes one PUT and says whether another may succeed.
func putDevObject(ctx context.Context, client *http.Client, u string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return false, errors.New(resp.Status + ": " + string(bytes.TrimSpace(msg)))
}
