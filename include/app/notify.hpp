// The service manager's notification protocol (sd_notify(3)), written by hand: no libsystemd.
// Main thread only.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace herald::app {

// Sends `state` ("READY=1", "STOPPING=1", "MAINPID=1234", several separated by newlines) as
// one datagram to the Unix socket $NOTIFY_SOCKET names: a path, or an abstract name written
// with a leading '@'. Does nothing when the variable is unset. Returns the error of a socket
// that is named but could not be written (the caller logs it).
[[nodiscard]] std::error_code notify_service_manager(std::string_view state);

// "RELOADING=1\nMONOTONIC_USEC=N": the start of a reload, with the monotonic time systemd
// (Type=notify-reload) asks for.
std::string reloading_state();

} // namespace herald::app
