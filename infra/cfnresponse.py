"""The cfn-response module Lambda puts beside inline (ZipFile / InlineCode) Python code, for custom resources.

The interface AWS documents ("cfn-response module"): ``send(event, context, responseStatus, responseData,
physicalResourceId=None, noEcho=False, reason=None)`` PUTs the response object to the event's ``ResponseURL``;
``SUCCESS`` and ``FAILED``. Written for the local cloud from that documentation; the deployer copies it into each
inline function's code folder.
"""
import json
import urllib.request

SUCCESS = "SUCCESS"
FAILED = "FAILED"


def send(event, context, responseStatus, responseData, physicalResourceId=None, noEcho=False, reason=None):
    body = json.dumps({
        "Status": responseStatus,
        "Reason": reason or f"See the details in CloudWatch Log Stream: {context.log_stream_name}",
        "PhysicalResourceId": physicalResourceId or context.log_stream_name,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": noEcho,
        "Data": responseData,
    }).encode()
    print("Response body:", body.decode())
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            print("Status code:", answer.status)
    except Exception as exc:  # as AWS's module: the failure is printed, not raised
        print("send(..) failed executing request:", exc)
