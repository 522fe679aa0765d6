// Decodes every message of an MCAP rosbag2 with the readers Foxglove's apps use
// (@mcap/core, @foxglove/rosmsg, @foxglove/rosmsg2-serialization) and prints a JSON summary.
//
//   node check_bag.mjs RUN/bag/bag.mcap
//
// Exit status 1 if the file does not parse, a channel's schema is missing or not ros2msg,
// or any message fails to decode; so a bag that passes opens in Foxglove with every field.
import { readFile } from "node:fs/promises";
import { McapIndexedReader } from "@mcap/core";
import { parse } from "@foxglove/rosmsg";
import { MessageReader } from "@foxglove/rosmsg2-serialization";

function bufferReadable(bytes) {
  return {
    size: async () => BigInt(bytes.byteLength),
    read: async (offset, length) => bytes.subarray(Number(offset), Number(offset + length)),
  };
}

// Plain JSON for one decoded message: bigint -> number, typed arrays -> lists, and
// non-finite floats (LaserScan's +inf = no return) -> "Infinity"/"-Infinity"/"NaN".
function plain(value) {
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (ArrayBuffer.isView(value)) return Array.from(value, plain);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

async function main() {
  const path = process.argv[2];
  if (!path) throw new Error("usage: node check_bag.mjs FILE.mcap");
  const bytes = new Uint8Array(await readFile(path));
  const reader = await McapIndexedReader.Initialize({ readable: bufferReadable(bytes) });
  const readers = new Map();
  const topics = {};
  for (const channel of reader.channelsById.values()) {
    const schema = reader.schemasById.get(channel.schemaId);
    if (!schema) throw new Error(`channel ${channel.topic}: schema ${channel.schemaId} missing`);
    if (schema.encoding !== "ros2msg" || channel.messageEncoding !== "cdr") {
      throw new Error(
        `channel ${channel.topic}: encodings ${schema.encoding}/${channel.messageEncoding}, ` +
          "Foxglove expects ros2msg/cdr",
      );
    }
    const definition = new TextDecoder().decode(schema.data);
    readers.set(channel.id, new MessageReader(parse(definition, { ros2: true })));
    topics[channel.topic] = { type: schema.name, count: 0, first: null, last: null };
  }
  let decodeErrors = 0;
  for await (const message of reader.readMessages()) {
    const channel = reader.channelsById.get(message.channelId);
    const entry = topics[channel.topic];
    try {
      const decoded = plain(readers.get(message.channelId).readMessage(message.data));
      entry.count += 1;
      if (entry.first === null) entry.first = decoded;
      entry.last = decoded;
    } catch (error) {
      decodeErrors += 1;
      if (decodeErrors <= 5) console.error(`${channel.topic}: ${error.message}`);
    }
  }
  console.log(JSON.stringify({ file: path, decode_errors: decodeErrors, topics }));
  if (decodeErrors > 0) process.exit(1);
}

main().catch((error) => {
  console.error(`bag check failed: ${error.message}`);
  process.exit(1);
});
