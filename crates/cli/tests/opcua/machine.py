"""A simulated machine as an OPC UA server (the PyPI `asyncua` package's server, not ours),
for the edge agent's OPC UA tests (crates/cli/tests/opcua_network.rs).

    python machine.py PORT ORACLE --start K --ticks N [--period S] [--bad-tick B]
                      [--cert CERT.der --key KEY.pem]

Three variables under ns=2 (the first namespace registered):
    ns=2;s=Machine.SpindleTemp   Double, degrees C, two decimals
    ns=2;s=Machine.Vibration     Double, mm/s, one decimal
    ns=2;s=Machine.PartCounter   Int64, parts made

Tick k (k = K .. K+N-1) writes all three with one source timestamp, values a deterministic
function of k. At tick B (if given) the vibration is written with status BadSensorFailure.
Tick K is written at start-up (a subscriber gets it as the initial value); the following
ticks start only once a client has created monitored items, one every S seconds.

With --cert and --key the server requires security policy Basic256Sha256 (endpoints Sign and
SignAndEncrypt only, no None endpoint) and shows that certificate (its first subjectAltName
should be the server's application URI, urn:dtfhe:test-machine:server, then IP:127.0.0.1).

Every value written is appended to ORACLE (one JSON object per tick, flushed) *before* the
write, so the file is the plaintext of everything published. SIGTERM stops the ticking at
once, leaves the subscribers `--grace` seconds to receive the last notifications, then stops
the server. When all N ticks are written, "done" is appended to ORACLE + ".status".
"""

import argparse
import asyncio
import datetime
import json
import signal

from asyncua import Server, ua


def values(k):
    temp_c100 = 4000 + (k * 37) % 2500  # 40.00 .. 64.99
    vib_10 = (k * 13) % 90  # 0.0 .. 8.9
    return temp_c100, vib_10, k


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("oracle")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--ticks", type=int, default=50)
    p.add_argument("--period", type=float, default=0.05)
    p.add_argument("--bad-tick", type=int, default=-1)
    p.add_argument("--grace", type=float, default=3.0)
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{a.port}/")
    server.set_server_name("dtfhe test machine")
    if a.cert:
        await server.set_application_uri("urn:dtfhe:test-machine:server")
        await server.load_certificate(a.cert)
        await server.load_private_key(a.key)
        server.set_security_policy(
            [
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                ua.SecurityPolicyType.Basic256Sha256_Sign,
            ]
        )
    else:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace("urn:dtfhe:test-machine")
    machine = await server.nodes.objects.add_object(idx, "Machine")
    temp = await machine.add_variable(ua.NodeId("Machine.SpindleTemp", idx), "SpindleTemp", 0.0)
    vib = await machine.add_variable(ua.NodeId("Machine.Vibration", idx), "Vibration", 0.0)
    count = await machine.add_variable(
        ua.NodeId("Machine.PartCounter", idx), "PartCounter", 0, ua.VariantType.Int64
    )

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    oracle = open(a.oracle, "a")

    async def tick(k):
        t100, v10, n = values(k)
        ts = datetime.datetime.now(datetime.timezone.utc)
        bad = k == a.bad_tick
        rec = {
            "tick": k,
            "ts_ms": int(ts.timestamp() * 1000),
            "temp_c100": t100,
            "vib_10": None if bad else v10,
            "vib_bad": bad,
            "counter": n,
        }
        oracle.write(json.dumps(rec) + "\n")
        oracle.flush()

        def dv(value, vtype, status=ua.StatusCodes.Good):
            return ua.DataValue(
                ua.Variant(value, vtype),
                StatusCode=ua.StatusCode(status),
                SourceTimestamp=ts,
                ServerTimestamp=ts,
            )

        await server.write_attribute_value(temp.nodeid, dv(t100 / 100, ua.VariantType.Double))
        if bad:
            # A value the sensor could not vouch for: published with a bad status.
            await server.write_attribute_value(
                vib.nodeid,
                dv(999.9, ua.VariantType.Double, ua.StatusCodes.BadSensorFailure),
            )
        else:
            await server.write_attribute_value(vib.nodeid, dv(v10 / 10, ua.VariantType.Double))
        await server.write_attribute_value(count.nodeid, dv(n, ua.VariantType.Int64))

    def monitored():
        subs = server.iserver.subscription_service.subscriptions
        return sum(len(s.monitored_item_srv._monitored_items) for s in subs.values())

    async with server:
        await tick(a.start)
        while monitored() < 3 and not stop.is_set():
            await asyncio.sleep(0.05)
        k = a.start + 1
        while k < a.start + a.ticks and not stop.is_set():
            await asyncio.sleep(a.period)
            if stop.is_set():
                break
            await tick(k)
            k += 1
        if not stop.is_set():
            with open(a.oracle + ".status", "a") as s:
                s.write("done\n")
            await stop.wait()
        await asyncio.sleep(a.grace)
    oracle.close()


if __name__ == "__main__":
    asyncio.run(main())
