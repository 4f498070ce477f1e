import { isIP } from "node:net";

/**
 * Which Host and Origin headers the dashboard answers: the defence against DNS rebinding (a web
 * page whose domain is made to resolve to 127.0.0.1 reaches a local dashboard with its own domain
 * in Host) and against cross-site requests that change state (another origin in Origin).
 */

/** A name DASHBOARD_HOSTS may hold: a DNS name (letters, digits, hyphens, dots), or one with a leading `*.` for its subdomains. */
export const HOST_NAME_PATTERN = /^(\*\.)?(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The host of a Host header (`name`, `name:port`, `[v6]:port`), lower case; undefined when it is none. */
export function hostOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(header.trim());
  if (!match) return undefined;
  const host = match[1]!.toLowerCase().replace(/\.$/, "");
  return host.startsWith("[") ? host.slice(1, -1) : host;
}

/**
 * True when the Host header names this dashboard: an IP address (no rebinding goes through one:
 * the page's origin would be that address), localhost and its subdomains (RFC 6761: never another
 * machine), or a name the operator listed in DASHBOARD_HOSTS.
 */
export function hostAllowed(header: string | undefined, names: readonly string[]): boolean {
  const host = hostOf(header);
  if (host === undefined) return false;
  if (isIP(host) !== 0) return true;
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  return names.some((name) => (name.startsWith("*.") ? host.endsWith(name.slice(1)) : host === name));
}

/**
 * True when a request that changes state may come from this Origin: none (not a browser's
 * request: curl, scripts) or the dashboard's own (its scheme and the request's Host). A browser
 * sends Origin with every POST, so another site's page cannot pass.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, scheme: "http" | "https"): boolean {
  if (origin === undefined) return true;
  return host !== undefined && origin.toLowerCase() === `${scheme}://${host.toLowerCase()}`;
}
