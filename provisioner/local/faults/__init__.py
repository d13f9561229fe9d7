"""The fault proxy's knowledge of AWS requests and its decisions, apart from its HTTP server.

- `calls`: the typed call a request makes (service, action, whether it mutates);
- `recognise`: which service and protocol a request uses, and its call;
- `query` and `rest`: one parser per protocol (AWS Query; REST-XML);
- `ec2`: EC2's ids, NotFound codes and instance states;
- `answers`: what a call's answer made, and error answers in each service's format;
- `decisions`: which fault each call gets, and what the proxy did.
"""
