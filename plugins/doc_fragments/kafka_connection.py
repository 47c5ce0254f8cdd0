# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """How the collection's Kafka modules reach a cluster (msk_topic, msk_topic_info)."""

    DOCUMENTATION = r"""
options:
  transport:
    description:
      - V(kafka) uses the Kafka admin protocol (needs network access to the brokers).
      - V(msk_api) uses the MSK topic API of the AWS C(kafka) service (needs O(cluster_arn)).
    type: str
    choices: [kafka, msk_api]
    default: kafka
  bootstrap_servers:
    description:
      - Brokers to connect to, C(host:port). Required with O(transport=kafka).
    type: list
    elements: str
  security_protocol:
    description:
      - Protocol used to talk to the brokers. Use V(SASL_SSL) with O(sasl_mechanism=OAUTHBEARER) for MSK
        IAM authentication (port 9098), V(SSL) for TLS (port 9094), V(PLAINTEXT) for a local broker.
    type: str
    choices: [PLAINTEXT, SSL, SASL_SSL]
    default: PLAINTEXT
  sasl_mechanism:
    description:
      - SASL mechanism with O(security_protocol=SASL_SSL). V(OAUTHBEARER) authenticates with MSK IAM
        tokens signed for O(region) with the module's AWS credentials (O(access_key)/O(secret_key)/
        O(session_token), else O(profile), else the default credential chain).
    type: str
    choices: [OAUTHBEARER]
    default: OAUTHBEARER
  ssl_ca_location:
    description:
      - CA bundle used to verify the brokers' certificates. Defaults to the system trust store.
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the brokers to answer the first metadata request; an unreachable cluster
        fails after this time.
    type: int
    default: 10
  request_timeout:
    description:
      - Seconds allowed for each admin request (create, alter, delete, describe configs).
    type: int
    default: 30
  max_retries:
    description:
      - How many times a throttled request or one failing with a transient broker error is retried
        (jittered exponential backoff).
    type: int
    default: 5
  cluster_arn:
    description:
      - ARN of the MSK cluster. Required with O(transport=msk_api).
    type: str
"""
