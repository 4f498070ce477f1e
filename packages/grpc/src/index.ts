export { bearerTokenCheck, channelCredentials, serverCredentials, type ClientAccess, type ClientTls, type ServerTls } from "./access.js";
export { createClient, type CallOptions, type Client } from "./client.js";
export { grpcServiceDefinition, methodPath } from "./descriptors.js";
export { GrpcStatusError, isPermanent, notFound, status, statusOf } from "./errors.js";
export { localCallContext, serviceHandlers, type Authorize, type CallContext, type InternalErrorHook, type ServiceImpl } from "./handlers.js";
export { HealthStatus, ServingStatus } from "./health.js";
export { bind, startGrpcHost, type GrpcHost, type GrpcHostOptions, type ServiceBinding } from "./host.js";
export { addReflection } from "./reflection.js";
export { probeHealth, waitUntilServing, type ProbeResult } from "./probe.js";
