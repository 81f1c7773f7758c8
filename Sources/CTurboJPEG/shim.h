// libjpeg-turbo's TurboJPEG API.
#include <turbojpeg.h>
