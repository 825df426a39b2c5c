"""MQTT.js (npm mqtt) with protocol version 5 under node against the real broker
(tests/integration/mqttjs_v5_check.mjs): flow control (Receive Maximum) and shared
subscriptions. The script's other cases (topic aliases, request/response) wait for those
features;
MQTT_TEST_BROKER=mosquitto runs the tests against mosquitto 2.0, which they were written
to."""

from ws_support import node

def run(broker, case):
    return node("mqttjs_v5_check.mjs", "mqtt://%s:%d" % (broker.host, broker.port), case)


def test_mqttjs_v5_receive_maximum_1_gets_qos2_messages_one_at_a_time(broker):
    # MQTT.js closes with an error when a second QoS 2 PUBLISH comes before the first's PUBREL
    out = run(broker, "flow")
    assert out["got"] == 20 and out["in_order"], out


def test_mqttjs_v5_shared_subscription_gives_each_message_to_one_member_in_turn(broker):
    # MQTT-4.8.2-3 (one member per message), round robin as mosquitto: 10 each of 20
    out = run(broker, "shared")
    assert out["counts"] == [10, 10], out
