// Package validator makes a Go rule judge providers' answers: a rule that calls Register
// exports sy_validate (Rule ABI v1), and the router asks it about every answer. Rules
// that do not import this package do not export sy_validate and cost nothing after routing.
package validator

import "github.com/switchyard-llm/switchyard/sdk/rule"

// Register sets the function that judges answers. Call it from init.
func Register(fn rule.ValidateFunc) { rule.Validate(fn) }
