// Package e2e tests Switchyard from the outside: the built router binary, real provider
// plugin subprocesses and real Wasm rules, driven by the official openai-go client. Run
// `make build` first (`make test` does); a missing binary fails the tests.
package e2e
