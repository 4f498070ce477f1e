import { fromJson, toJson, type DescEnum, type DescMessage, type JsonObject, type JsonValue, type MessageShape } from "@bufbuild/protobuf";

/**
 * A message as JSON for people: protobuf's canonical JSON (camelCase names, RFC 3339 times, 64-bit
 * integers as strings, every field present) with each enum value by its short name as the flags
 * spell it — RUN_STATE_FINISHED is "finished", DECISION_DECAY_ETA "decay-eta", COST_CROSS_ENTROPY
 * "cross-entropy". What `mnistctl get -o json` and `list --json` print.
 */
export function toNamedJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): JsonValue {
  const json = toJson(schema, message, { alwaysEmitImplicit: true });
  nameEnums(schema, json);
  return json;
}

/** An enum value's short name: its name without the enum's shared prefix, lower case, '_' as '-'. */
export function enumValueName(desc: DescEnum, number: number): string {
  const value = desc.values.find((candidate) => candidate.number === number);
  return value ? shortName(value.localName) : String(number);
}

const shortName = (localName: string) => localName.toLowerCase().replaceAll("_", "-");

function nameEnum(desc: DescEnum, json: JsonValue): JsonValue {
  const value = desc.values.find((candidate) => candidate.name === json);
  return value ? shortName(value.localName) : json;
}

function isObject(json: JsonValue | undefined): json is JsonObject {
  return typeof json === "object" && json !== null && !Array.isArray(json);
}

/** Rewrites, in place, every enum value in `json` (a message of type `desc`) by its short name. */
function nameEnums(desc: DescMessage, json: JsonValue): void {
  // Well-known types (Timestamp, FieldMask, …) have JSON forms of their own and no enums.
  if (!isObject(json) || desc.typeName.startsWith("google.protobuf.")) return;
  for (const field of desc.fields) {
    const value = json[field.jsonName];
    if (value === undefined || value === null) continue;
    switch (field.fieldKind) {
      case "enum":
        json[field.jsonName] = nameEnum(field.enum, value);
        break;
      case "message":
        nameEnums(field.message, value);
        break;
      case "list":
        if (!Array.isArray(value)) break;
        if (field.listKind === "enum") json[field.jsonName] = value.map((item) => nameEnum(field.enum, item));
        if (field.listKind === "message") for (const item of value) nameEnums(field.message, item);
        break;
      case "map":
        if (!isObject(value)) break;
        for (const key of Object.keys(value)) {
          if (field.mapKind === "enum") value[key] = nameEnum(field.enum, value[key]!);
          if (field.mapKind === "message") nameEnums(field.message, value[key]!);
        }
        break;
    }
  }
}

/**
 * The other way: JSON with enum values by their short names (as toNamedJson writes them, or a
 * person in a YAML file) back into a message; protobuf's canonical JSON is accepted as it is.
 * Unknown fields and values that fit no field are errors naming them (fromJson's).
 */
export function fromNamedJson<Desc extends DescMessage>(schema: Desc, json: JsonValue): MessageShape<Desc> {
  const copy = structuredClone(json);
  unnameEnums(schema, copy);
  return fromJson(schema, copy);
}

function unnameEnum(desc: DescEnum, json: JsonValue): JsonValue {
  if (typeof json !== "string") return json;
  const value = desc.values.find((candidate) => shortName(candidate.localName) === json);
  return value ? value.name : json;
}

function unnameEnums(desc: DescMessage, json: JsonValue): void {
  if (!isObject(json) || desc.typeName.startsWith("google.protobuf.")) return;
  for (const field of desc.fields) {
    const key = field.jsonName in json ? field.jsonName : field.name in json ? field.name : undefined;
    if (key === undefined) continue;
    const value = json[key]!;
    if (field.fieldKind === "enum") json[key] = unnameEnum(field.enum, value);
    else if (field.fieldKind === "message") unnameEnums(field.message, value);
    else if (field.fieldKind === "list" && Array.isArray(value)) {
      if (field.listKind === "enum") json[key] = value.map((item) => unnameEnum(field.enum, item));
      if (field.listKind === "message") for (const item of value) unnameEnums(field.message, item);
    }
  }
}
