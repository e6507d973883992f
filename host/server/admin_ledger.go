package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/keys"
	"github.com/switchyard-llm/switchyard/host/ledger"
	"github.com/switchyard-llm/switchyard/host/wire"
)

// ledgerRoutes are the admin API of the ledger and the virtual keys (api/admin.md).
func (s *Server) ledgerRoutes(e *gin.Engine) {
	e.GET("/admin/usage", s.adminUsage)
	e.GET("/admin/requests", s.adminRequests)
	e.GET("/admin/requests/:id", s.adminRequest)
	e.GET("/admin/keys", s.adminListKeys)
	e.POST("/admin/keys", s.adminCreateKey)
	e.GET("/admin/keys/:name", s.adminGetKey)
	e.PATCH("/admin/keys/:name", s.adminPatchKey)
	e.DELETE("/admin/keys/:name", s.adminRevokeKey)
	e.POST("/admin/keys/:name/rotate", s.adminRotateKey)
}

// maxRowsPerID bounds GET /admin/requests/{id}: clients choose ids, and may reuse one.
const maxRowsPerID = 50

func (s *Server) reader(c *gin.Context, endpoint string) (ledger.Reader, bool) {
	x := exchangeOf(c, endpoint)
	if !s.admin(c, x, true) {
		return nil, false
	}
	if s.o.Ledger == nil {
		s.writeError(c, wire.NewError(http.StatusNotFound, wire.CodeUnsupportedEndpoint, "the ledger is off: set ledger.url in the config"))
		return nil, false
	}
	return s.o.Ledger, true
}

func (s *Server) keyStore(c *gin.Context, endpoint string) (ledger.KeyStore, bool) {
	x := exchangeOf(c, endpoint)
	if !s.admin(c, x, true) {
		return nil, false
	}
	if s.o.KeyStore == nil || s.o.Keys == nil {
		s.writeError(c, wire.NewError(http.StatusNotFound, wire.CodeUnsupportedEndpoint, "virtual keys live in the ledger's database, and the ledger is off: set ledger.url in the config"))
		return nil, false
	}
	return s.o.KeyStore, true
}

// parseTime reads a time parameter (ledger.ParseTime).
func parseTime(name, v string, now time.Time) (time.Time, *wire.Error) {
	t, err := ledger.ParseTime(v, now)
	if err != nil {
		return time.Time{}, wire.BadRequest(name, "%s %s", name, err.Error())
	}
	return t, nil
}

func (s *Server) queryError(c *gin.Context, err error) {
	if errors.Is(err, ledger.ErrBadQuery) {
		s.writeError(c, wire.BadRequest("", "%s", strings.TrimPrefix(err.Error(), "ledger: bad query: ")))
		return
	}
	if c.Request.Context().Err() != nil {
		return
	}
	s.log.Warn("ledger query failed", "err", err)
	s.writeError(c, wire.NewError(http.StatusServiceUnavailable, wire.CodeInternal, "the ledger's database did not answer: %s", err.Error()))
}

// GET /admin/usage?group_by=key|team|model|provider|route|endpoint&from=&to=&interval=hour|day&key=
func (s *Server) adminUsage(c *gin.Context) {
	r, ok := s.reader(c, "admin.usage")
	if !ok {
		return
	}
	now := s.o.Now()
	q := ledger.UsageQuery{GroupBy: c.Query("group_by"), Interval: c.Query("interval"), Key: c.Query("key")}
	var werr *wire.Error
	if q.From, werr = parseTime("from", c.Query("from"), now); werr == nil {
		q.To, werr = parseTime("to", c.Query("to"), now)
	}
	if werr != nil {
		s.writeError(c, werr)
		return
	}
	buckets, err := r.Usage(c.Request.Context(), q)
	if err != nil {
		s.queryError(c, err)
		return
	}
	resp := gin.H{"object": "usage", "group_by": q.GroupBy, "interval": q.Interval, "data": buckets}
	if !q.From.IsZero() {
		resp["from"] = q.From.UTC()
	}
	if !q.To.IsZero() {
		resp["to"] = q.To.UTC()
	}
	c.JSON(http.StatusOK, resp)
}

// GET /admin/requests?key=&team=&model=&route=&endpoint=&status=&since=&until=&limit=
func (s *Server) adminRequests(c *gin.Context) {
	r, ok := s.reader(c, "admin.requests")
	if !ok {
		return
	}
	q, err := ledger.ParseRequestQuery(c.Request.URL.Query(), s.o.Now())
	if err != nil {
		var pe *ledger.ParamError
		errors.As(err, &pe)
		s.writeError(c, wire.BadRequest(pe.Param, "%s", pe.Error()))
		return
	}
	rows, err := r.Requests(c.Request.Context(), q)
	if err != nil {
		s.queryError(c, err)
		return
	}
	out := make([]rowJSON, len(rows))
	for i := range rows {
		out[i] = toRowJSON(rows[i])
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": out})
}

// GET /admin/requests/{id}: every row with the id (clients choose ids), newest first,
// with the rule input and decision trace when they were recorded.
func (s *Server) adminRequest(c *gin.Context) {
	r, ok := s.reader(c, "admin.request")
	if !ok {
		return
	}
	id := c.Param("id")
	rows, err := r.Request(c.Request.Context(), id)
	if err != nil {
		s.queryError(c, err)
		return
	}
	if len(rows) == 0 {
		s.writeError(c, wire.NewError(http.StatusNotFound, wire.CodeRequestNotFound, "the ledger has no request %.128q (rows are written within ledger.interval, and kept for ledger.retention)", id))
		return
	}
	if len(rows) > maxRowsPerID {
		rows = rows[:maxRowsPerID]
	}
	out := make([]rowJSON, len(rows))
	for i := range rows {
		out[i] = toRowJSON(rows[i])
	}
	c.JSON(http.StatusOK, gin.H{"object": "request", "id": id, "data": out})
}

// keyJSON is a key as the admin API shows it: never its secret, except once in "secret"
// when it is made or rotated.
type keyJSON struct {
	Name    string            `json:"name"`
	Team    string            `json:"team"`
	Source  string            `json:"source"` // api or config
	Models  []string          `json:"models"`
	Limits  config.KeyLimits  `json:"limits"`
	Budget  *config.KeyBudget `json:"budget"`
	Hint    string            `json:"hint,omitempty"`
	Created *time.Time        `json:"created,omitempty"`
	Updated *time.Time        `json:"updated,omitempty"`
	Revoked *time.Time        `json:"revoked,omitempty"`
	Secret  string            `json:"secret,omitempty"`
}

func recordJSON(r ledger.KeyRecord) keyJSON {
	k := keys.FromRecord(r)
	out := keyJSON{Name: r.Name, Team: r.Team, Source: "api", Models: r.Models, Limits: k.Limits, Budget: k.Budget, Hint: r.Hint}
	if out.Models == nil {
		out.Models = []string{}
	}
	for _, t := range []struct {
		dst **time.Time
		v   time.Time
	}{{&out.Created, r.Created}, {&out.Updated, r.Updated}, {&out.Revoked, r.Revoked}} {
		if !t.v.IsZero() {
			v := t.v.UTC()
			*t.dst = &v
		}
	}
	return out
}

// GET /admin/keys[?revoked=true]: the config's keys and the virtual ones.
func (s *Server) adminListKeys(c *gin.Context) {
	x := exchangeOf(c, "admin.keys")
	if !s.admin(c, x, true) {
		return
	}
	out := []keyJSON{}
	for _, k := range x.st.Config.Keys {
		v := keyJSON{Name: k.Name, Team: k.Team, Source: "config", Models: k.Models, Limits: k.Limits, Budget: k.Budget}
		if v.Models == nil {
			v.Models = []string{}
		}
		out = append(out, v)
	}
	if s.o.KeyStore != nil {
		recs, _, err := s.o.KeyStore.Keys(c.Request.Context())
		if err != nil {
			s.queryError(c, err)
			return
		}
		withRevoked := c.Query("revoked") == "true"
		for _, r := range recs {
			if r.Revoked.IsZero() || withRevoked {
				out = append(out, recordJSON(r))
			}
		}
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": out})
}

// GET /admin/keys/{name}
func (s *Server) adminGetKey(c *gin.Context) {
	x := exchangeOf(c, "admin.keys")
	if !s.admin(c, x, true) {
		return
	}
	name := c.Param("name")
	for _, k := range x.st.Config.Keys {
		if k.Name == name {
			c.JSON(http.StatusOK, keyJSON{Name: k.Name, Team: k.Team, Source: "config", Models: append([]string{}, k.Models...), Limits: k.Limits, Budget: k.Budget})
			return
		}
	}
	if s.o.KeyStore != nil {
		recs, _, err := s.o.KeyStore.Keys(c.Request.Context())
		if err != nil {
			s.queryError(c, err)
			return
		}
		for _, r := range recs {
			if r.Name == name {
				c.JSON(http.StatusOK, recordJSON(r))
				return
			}
		}
	}
	s.writeError(c, keyNotFound(name))
}

func keyNotFound(name string) *wire.Error {
	return wire.NewError(http.StatusNotFound, wire.CodeKeyNotFound, "there is no active key %.64q", name)
}

var keyNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// keyFields is the body of POST and PATCH /admin/keys. Pointers tell what a PATCH sets;
// budget: null in a PATCH removes the budget.
type keyFields struct {
	Name   *string           `json:"name"`
	Team   *string           `json:"team"`
	Models *[]string         `json:"models"`
	Limits *config.KeyLimits `json:"limits"`
	Budget json.RawMessage   `json:"budget"`
}

// readKeyFields decodes a body strictly (an unknown field is an error, like the config's).
func readKeyFields(c *gin.Context) (*keyFields, *config.KeyBudget, bool, *wire.Error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20))
	if err != nil {
		return nil, nil, false, wire.BadRequest("", "could not read the body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var f keyFields
	if err := dec.Decode(&f); err != nil {
		return nil, nil, false, wire.BadRequest("", "the body is not a key: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	var budget *config.KeyBudget
	budgetSet := len(f.Budget) > 0
	if budgetSet && string(f.Budget) != "null" {
		d := json.NewDecoder(bytes.NewReader(f.Budget))
		d.DisallowUnknownFields()
		budget = &config.KeyBudget{}
		if err := d.Decode(budget); err != nil {
			return nil, nil, false, wire.BadRequest("budget", "budget: want {\"usd\": N, \"period\": \"day|week|month|total\"}: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	return &f, budget, budgetSet, nil
}

// checkKey checks models, limits and budget against the serving configuration.
func checkKey(st *State, models []string, l config.KeyLimits, b *config.KeyBudget) *wire.Error {
	problems := config.CheckKeyPolicy(l, b)
	known := func(m string) bool { _, _, ok := st.Pipeline.Catalogue().Resolve(m); return ok }
	for _, m := range models {
		if !known(m) {
			problems = append(problems, fmt.Sprintf("models: %q is neither a route nor a catalogue model", m))
		}
	}
	for m := range l.Models {
		if !known(m) {
			problems = append(problems, fmt.Sprintf("limits: models: %q is neither a route nor a catalogue model", m))
		}
	}
	if len(problems) > 0 {
		return wire.BadRequest("", "%s", strings.Join(problems, "; "))
	}
	return nil
}

func toRecordLimits(l config.KeyLimits) ledger.KeyLimits {
	out := ledger.KeyLimits{RPM: l.RPM, TPM: l.TPM}
	if len(l.Models) > 0 {
		out.Models = map[string]ledger.RateLimit{}
		for m, ml := range l.Models {
			out.Models[m] = ledger.RateLimit{RPM: ml.RPM, TPM: ml.TPM}
		}
	}
	return out
}

func toRecordBudget(b *config.KeyBudget) *ledger.KeyBudget {
	if b == nil {
		return nil
	}
	return &ledger.KeyBudget{USD: b.USD, Period: b.Period}
}

// refreshKeys makes this replica see a key change at once (the others within a poll).
func (s *Server) refreshKeys(ctx context.Context) {
	if err := s.o.Keys.Refresh(ctx); err != nil {
		s.log.Warn("virtual keys not refreshed after a change; the next poll retries", "err", err)
	}
}

// POST /admin/keys: makes a key; its secret is in the answer, once.
func (s *Server) adminCreateKey(c *gin.Context) {
	store, ok := s.keyStore(c, "admin.keys.create")
	if !ok {
		return
	}
	st := c.Writer.(*exchange).st
	f, budget, _, werr := readKeyFields(c)
	if werr != nil {
		s.writeError(c, werr)
		return
	}
	if f.Name == nil || !keyNameRE.MatchString(*f.Name) {
		s.writeError(c, wire.BadRequest("name", "name: required, lowercase letters, digits, '.', '_' or '-', at most 63 characters"))
		return
	}
	name := *f.Name
	if slices.ContainsFunc(st.Config.Keys, func(k config.Key) bool { return k.Name == name }) {
		s.writeError(c, wire.NewError(http.StatusConflict, wire.CodeKeyExists, "the config has a key named %q", name))
		return
	}
	rec := ledger.KeyRecord{Name: name}
	if f.Team != nil {
		rec.Team = *f.Team
	}
	var limits config.KeyLimits
	if f.Limits != nil {
		limits = *f.Limits
	}
	if f.Models != nil {
		rec.Models = *f.Models
	}
	if werr := checkKey(st, rec.Models, limits, budget); werr != nil {
		s.writeError(c, werr)
		return
	}
	rec.Limits, rec.Budget = toRecordLimits(limits), toRecordBudget(budget)
	secret := keys.NewSecret()
	rec.Hash, rec.Hint = keys.Hash(secret), keys.Hint(secret)
	now := s.o.Now()
	rec.Created, rec.Updated = now, now
	if err := store.CreateKey(c.Request.Context(), rec); err != nil {
		if errors.Is(err, ledger.ErrKeyExists) {
			s.writeError(c, wire.NewError(http.StatusConflict, wire.CodeKeyExists, "an active key is named %q: revoke it first, or PATCH it", name))
			return
		}
		s.queryError(c, err)
		return
	}
	s.refreshKeys(c.Request.Context())
	out := recordJSON(rec)
	out.Secret = secret
	s.log.Info("virtual key created", "key", name, "team", rec.Team)
	c.JSON(http.StatusCreated, out)
}

// PATCH /admin/keys/{name}: changes team, models, limits or budget (null removes it).
func (s *Server) adminPatchKey(c *gin.Context) {
	store, ok := s.keyStore(c, "admin.keys.update")
	if !ok {
		return
	}
	st := c.Writer.(*exchange).st
	f, budget, budgetSet, werr := readKeyFields(c)
	if werr != nil {
		s.writeError(c, werr)
		return
	}
	name := c.Param("name")
	if f.Name != nil && *f.Name != name {
		s.writeError(c, wire.BadRequest("name", "a key cannot be renamed: make a new one"))
		return
	}
	var refused *wire.Error
	rec, err := store.UpdateKey(c.Request.Context(), name, func(r *ledger.KeyRecord) error {
		k := keys.FromRecord(*r)
		if f.Team != nil {
			r.Team = *f.Team
		}
		if f.Models != nil {
			r.Models = *f.Models
		}
		if f.Limits != nil {
			k.Limits = *f.Limits
		}
		if budgetSet {
			k.Budget = budget
		}
		if refused = checkKey(st, r.Models, k.Limits, k.Budget); refused != nil {
			return errors.New("refused")
		}
		r.Limits, r.Budget = toRecordLimits(k.Limits), toRecordBudget(k.Budget)
		r.Updated = s.o.Now()
		return nil
	})
	switch {
	case refused != nil:
		s.writeError(c, refused)
		return
	case errors.Is(err, ledger.ErrNoKey):
		s.writeError(c, keyNotFound(name))
		return
	case err != nil:
		s.queryError(c, err)
		return
	}
	s.refreshKeys(c.Request.Context())
	c.JSON(http.StatusOK, recordJSON(rec))
}

// POST /admin/keys/{name}/rotate: a new secret (in the answer, once); the old one stops
// working at once here and within a poll on the other replicas.
func (s *Server) adminRotateKey(c *gin.Context) {
	store, ok := s.keyStore(c, "admin.keys.rotate")
	if !ok {
		return
	}
	name := c.Param("name")
	secret := keys.NewSecret()
	rec, err := store.UpdateKey(c.Request.Context(), name, func(r *ledger.KeyRecord) error {
		r.Hash, r.Hint, r.Updated = keys.Hash(secret), keys.Hint(secret), s.o.Now()
		return nil
	})
	switch {
	case errors.Is(err, ledger.ErrNoKey):
		s.writeError(c, keyNotFound(name))
		return
	case err != nil:
		s.queryError(c, err)
		return
	}
	s.refreshKeys(c.Request.Context())
	out := recordJSON(rec)
	out.Secret = secret
	s.log.Info("virtual key rotated", "key", name)
	c.JSON(http.StatusOK, out)
}

// DELETE /admin/keys/{name}: revokes the key.
func (s *Server) adminRevokeKey(c *gin.Context) {
	store, ok := s.keyStore(c, "admin.keys.revoke")
	if !ok {
		return
	}
	name := c.Param("name")
	now := s.o.Now()
	if err := store.RevokeKey(c.Request.Context(), name, now); err != nil {
		if errors.Is(err, ledger.ErrNoKey) {
			s.writeError(c, keyNotFound(name))
			return
		}
		s.queryError(c, err)
		return
	}
	s.refreshKeys(c.Request.Context())
	s.log.Info("virtual key revoked", "key", name)
	c.JSON(http.StatusOK, gin.H{"name": name, "revoked": now.UTC()})
}
