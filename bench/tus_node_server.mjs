// The reference for bench/upload.py's tus rows: the official tus Node server (@tus/server with its
// FileStore, devDependencies in package.json), on 127.0.0.1 only. It neither fsyncs nor verifies checksums.
//   node bench/tus_node_server.mjs PORT DIR
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";

const [port, directory] = process.argv.slice(2);
const server = new Server({ path: "/files", datastore: new FileStore({ directory }) });
server.listen({ host: "127.0.0.1", port: Number(port) }, () => console.log(`tus node server on ${port}`));
