package pipeline

import (
	"github.com/switchyard-llm/switchyard/host/config"
)

// AutoModel is the model name that makes every catalogue model a candidate.
const AutoModel = "auto"

// Target is one catalogue model: a model of a provider, as clients and rules name it.
type Target struct {
	// Name is the catalogue name (what rules and clients see as "model").
	Name     string
	Provider string
	// Upstream is the model name sent to the provider.
	Upstream      string
	ContextWindow int64
	USDPerMTokIn  float64
	USDPerMTokOut float64
	Capabilities  []string
}

// Cost returns the price in US dollars of the given token counts.
func (t *Target) Cost(prompt, completion int64) float64 {
	return (float64(prompt)*t.USDPerMTokIn + float64(completion)*t.USDPerMTokOut) / 1e6
}

// Catalogue resolves the model a client asks for into candidates and a default route.
// It is immutable once built.
type Catalogue struct {
	models map[string]*Target
	all    []*Target
	routes map[string][]*Target
	names  []string
}

// NewCatalogue builds the catalogue of a checked config. Models of disabled providers are
// left out, and so are the routes left with no target.
func NewCatalogue(f *config.File) *Catalogue {
	enabled := map[string]bool{}
	for _, p := range f.EnabledProviders() {
		enabled[p.Name] = true
	}
	c := &Catalogue{models: map[string]*Target{}, routes: map[string][]*Target{}}
	for _, m := range f.Models {
		if !enabled[m.Provider] {
			continue
		}
		t := &Target{Name: m.Name, Provider: m.Provider, Upstream: m.Model, ContextWindow: m.ContextWindow,
			USDPerMTokIn: m.USDPerMTokIn, USDPerMTokOut: m.USDPerMTokOut, Capabilities: m.Capabilities}
		c.models[m.Name] = t
		c.all = append(c.all, t)
	}
	for _, r := range f.Routes {
		var ts []*Target
		for _, name := range r.Targets {
			if t := c.models[name]; t != nil {
				ts = append(ts, t)
			}
		}
		if len(ts) > 0 {
			c.routes[r.Name] = ts
			c.names = append(c.names, r.Name)
		}
	}
	for _, t := range c.all {
		c.names = append(c.names, t.Name)
	}
	if len(c.all) > 0 {
		c.names = append(c.names, AutoModel)
	}
	return c
}

// Resolve returns the candidates for a requested model and its default route (nil for
// "auto": only rules decide). ok is false when the name is unknown.
func (c *Catalogue) Resolve(model string) (candidates, route []*Target, ok bool) {
	if ts, ok := c.routes[model]; ok {
		return ts, ts, true
	}
	if t, ok := c.models[model]; ok {
		one := []*Target{t}
		return one, one, true
	}
	if model == AutoModel && len(c.all) > 0 {
		return c.all, nil, true
	}
	return nil, nil, false
}

// Names lists the model names clients may ask for: routes in config order, then catalogue
// models, then "auto".
func (c *Catalogue) Names() []string { return c.names }

// Targets lists every catalogue model of enabled providers.
func (c *Catalogue) Targets() []*Target { return c.all }
