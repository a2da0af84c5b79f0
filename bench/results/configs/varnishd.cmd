varnishd -F -n /tmp/ringbench.os8y7M/varnish -a 127.0.0.1:28101 -f /tmp/ringbench.os8y7M/configs/default.vcl -s malloc,256m -T none -p timeout_idle=300 -p listen_depth=4096
