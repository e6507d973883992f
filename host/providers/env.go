package providers

import "os"

// baseEnv names the variables of the host's environment that every plugin gets, when they
// are set: what any program needs to run and find its temporary directory. go-plugin adds
// its own (the magic cookie, the protocol versions, the socket directory).
var baseEnv = []string{"PATH", "HOME", "TMPDIR"}

// pluginEnv is the environment of a plugin process: baseEnv, then the variables named
// (Spec.Env), each taken from the host's environment when it is set there. Nothing else of
// the host's environment reaches the plugin: API keys in it, a proxy setting meant for the
// router, or variables an SDK would read on its own (OPENAI_API_KEY, OPENAI_BASE_URL).
func pluginEnv(named []string) []string {
	env := make([]string, 0, len(baseEnv)+len(named))
	seen := make(map[string]bool, len(baseEnv)+len(named))
	for _, list := range [][]string{baseEnv, named} {
		for _, name := range list {
			if name == "" || seen[name] {
				continue
			}
			seen[name] = true
			if v, ok := os.LookupEnv(name); ok {
				env = append(env, name+"="+v)
			}
		}
	}
	return env
}
