/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle_acls.c — DescribeAcls, CreateAcls, DeleteAcls.
 *
 * With an authorizer configured (authorizer.class.name) they are served
 * by authorizer_kafka.c. Without one, nodata answers these as Apache Kafka
 * does when none is configured (AclApis): error 54 SECURITY_DISABLED on the
 * whole response for DescribeAcls, on every creation and every filter for the
 * other two, with Kafka 4.4's texts, which differ: "No Authorizer is
 * configured on the broker" for DescribeAcls, "No Authorizer is
 * configured." for CreateAcls and DeleteAcls (tests/compat/test_acls.py
 * compares them with the real broker, on the wire and through
 * kafka-acls). Serving them (rather than
 * leaving them out of ApiVersions) matters to clients that list ACLs as a
 * matter of course: MirrorMaker 2's topic ACL sync treats
 * SECURITY_DISABLED as "nothing to copy" but logs an ERROR every
 * interval for the UnsupportedVersionException an unserved API gives
 * (docs/migrate-to-kafka.md); kafka-acls.sh prints Kafka's own message.
 */
#include "kafka.h"

#define NO_AUTHORIZER_DESCRIBE "No Authorizer is configured on the broker"
#define NO_AUTHORIZER "No Authorizer is configured."

int handle_describe_acls(kafka_req *r) {
  if (kafka_authz_on(r))
    return kafka_describe_acls_on(r);
  kafka_describe_acls_response *resp =
      kf_new(&r->arena, &kafka_describe_acls_response_desc);
  if (!resp)
    return -1;
  resp->error_code = KERR_SECURITY_DISABLED;
  resp->error_message = kf_s(NO_AUTHORIZER_DESCRIBE);
  resp->resources.count = 0;
  kafka_respond(r, resp);
  return 0;
}

int handle_create_acls(kafka_req *r) {
  if (kafka_authz_on(r))
    return kafka_create_acls_on(r);
  kafka_create_acls_request *req = r->body;
  kafka_create_acls_response *resp =
      kf_new(&r->arena, &kafka_create_acls_response_desc);
  int32_t n = req->creations.count > 0 ? req->creations.count : 0;
  kafka_create_acls_response_acl_creation_result *res = kf_new_array(
      &r->arena, &kafka_create_acls_response_acl_creation_result_desc, n);
  if (!resp || (n && !res))
    return -1;
  for (int32_t i = 0; i < n; i++) {
    res[i].error_code = KERR_SECURITY_DISABLED;
    res[i].error_message = kf_s(NO_AUTHORIZER);
  }
  resp->results.items = res;
  resp->results.count = n;
  kafka_respond(r, resp);
  return 0;
}

int handle_delete_acls(kafka_req *r) {
  if (kafka_authz_on(r))
    return kafka_delete_acls_on(r);
  kafka_delete_acls_request *req = r->body;
  kafka_delete_acls_response *resp =
      kf_new(&r->arena, &kafka_delete_acls_response_desc);
  int32_t n = req->filters.count > 0 ? req->filters.count : 0;
  kafka_delete_acls_response_filter_result *res = kf_new_array(
      &r->arena, &kafka_delete_acls_response_filter_result_desc, n);
  if (!resp || (n && !res))
    return -1;
  for (int32_t i = 0; i < n; i++) {
    res[i].error_code = KERR_SECURITY_DISABLED;
    res[i].error_message = kf_s(NO_AUTHORIZER);
    res[i].matching_acls.count = 0;
  }
  resp->filter_results.items = res;
  resp->filter_results.count = n;
  kafka_respond(r, resp);
  return 0;
}
