import { SaxesParser } from "saxes";

/**
 * The parts of a UWS 1.1 job document (`<uws:job>`, IVOA UWS 1.1 section 2.2.1) that a client needs:
 * its phase, the error summary, and the result links. Read with saxes (namespaces by local name, so
 * `uws:phase` and a default-namespace `phase` both count); a DOCTYPE is refused (no entity expansion).
 */
export interface UwsJobDoc {
  /** PENDING, QUEUED, EXECUTING, COMPLETED, ERROR, ABORTED, UNKNOWN, HELD, SUSPENDED or ARCHIVED. */
  readonly phase: string;
  /** `uws:errorSummary/uws:message`, "" when absent. */
  readonly errorMessage: string;
  /** `uws:results/uws:result` links by id ("result" is TAP's). */
  readonly results: ReadonlyMap<string, string>;
}

/** Phases after which a job does not change by itself (UWS 1.1 section 2.1.3). */
export const FINAL_PHASES: ReadonlySet<string> = new Set(["COMPLETED", "ERROR", "ABORTED", "ARCHIVED"]);

/** Parse a job document; throws Error with a readable message when it is not one. */
export function parseUwsJob(body: Buffer): UwsJobDoc {
  const parser = new SaxesParser({ xmlns: false, position: false });
  const local = (n: string): string => n.slice(n.indexOf(":") + 1);
  const path: string[] = [];
  let phase: string | undefined;
  let errorMessage = "";
  let text = "";
  const results = new Map<string, string>();
  parser.on("doctype", () => {
    throw new Error("UWS job document with a DOCTYPE (refused)");
  });
  parser.on("opentag", (t) => {
    const name = local(t.name);
    path.push(name);
    text = "";
    if (name === "result") {
      const a = t.attributes as Record<string, string>;
      const href = a["xlink:href"] ?? Object.entries(a).find(([k]) => local(k) === "href")?.[1];
      if (href !== undefined) results.set(a.id ?? "", href);
    }
  });
  parser.on("text", (s) => {
    text += s;
  });
  parser.on("closetag", (t) => {
    const name = local(t.name);
    const parent = path[path.length - 2];
    if (name === "phase" && parent === "job") phase = text.trim();
    if (name === "message" && parent === "errorSummary") errorMessage = text.trim();
    path.pop();
    text = "";
  });
  try {
    parser.write(body.toString("utf8")).close();
  } catch (e) {
    throw new Error(`not a UWS job document: ${(e as Error).message}`);
  }
  if (phase === undefined) throw new Error("not a UWS job document: no <phase> in a <job>");
  return { phase: phase.toUpperCase(), errorMessage, results };
}
