// probe: answers with the first candidate and, as its reason, what the AssemblyScript
// SDK read of request.team, request.budget and request.limits. Not a rule to ship (it
// builds strings per call): host/rules/abi's TestSDKsReadKeyState builds it and holds
// its reason to the input.
import { Decision, Input, routeEntry } from "../assembly/switchyard";
export { sy_abi_v1, sy_alloc } from "../assembly/switchyard";

function milli(v: f64): i64 { return <i64>(v * 1000 + 0.5); }

function route(input: Input, d: Decision): void {
  if (input.count == 0) return;
  d.target(input.candidate(0));
  let r = input.request;
  let s = "team=" + r.team.toString();
  let budgetFraction: f64 = 0, rpmFraction: f64 = 1, tpmFraction: f64 = 1;
  let b = r.budget;
  if (b) {
    s += " budget=" + milli(b.usd).toString() + "," + b.period.toString() + "," + milli(b.spentUsd).toString() + "," +
      milli(b.remainingUsd).toString() + "," + b.resetsUnixMs.toString();
    budgetFraction = b.remainingFraction();
  } else {
    s += " budget=none";
  }
  let l = r.limits;
  if (l) {
    s += " limits=" + l.rpm.toString() + "," + l.rpmRemaining.toString() + "," + l.tpm.toString() + "," + l.tpmRemaining.toString();
    rpmFraction = l.rpmFraction();
    tpmFraction = l.tpmFraction();
  } else {
    s += " limits=none";
  }
  s += " fractions=" + milli(budgetFraction).toString() + "," + milli(rpmFraction).toString() + "," + milli(tpmFraction).toString();
  d.reason(s);
}

export function sy_route(ptr: usize, len: u32): u64 {
  return routeEntry(ptr, len, route);
}
