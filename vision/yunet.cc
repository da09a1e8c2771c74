// yunet.cc: see yunet.h.
#include <cstring>
#include <string>
#include <opencv2/core.hpp>
#include <opencv2/objdetect/face.hpp>
#include "yunet.h"

struct yunet_detector {
	cv::Ptr<cv::FaceDetectorYN> det;
	cv::Size size;
};

extern "C" {

yunet_detector* yunet_new(const char* path, float score_threshold, float nms_threshold, char* err, int errlen) {
	try {
		yunet_detector* d = new yunet_detector;
		d->size = cv::Size(320, 320);
		d->det = cv::FaceDetectorYN::create(path, "", d->size, score_threshold, nms_threshold, 5000);
		if (d->det.empty()) {
			delete d;
			snprintf(err, errlen, "cv::FaceDetectorYN::create returned nothing");
			return nullptr;
		}
		return d;
	} catch (const std::exception& e) {
		snprintf(err, errlen, "%s", e.what());
		return nullptr;
	} catch (...) {
		snprintf(err, errlen, "unknown exception");
		return nullptr;
	}
}

void yunet_free(yunet_detector* d) { delete d; }

int yunet_detect(yunet_detector* d, const unsigned char* bgr, int rows, int cols, int step,
                 float* out, int max) {
	try {
		cv::Mat img(rows, cols, CV_8UC3, const_cast<unsigned char*>(bgr), step);
		cv::Size sz(cols, rows);
		if (sz != d->size) {
			d->det->setInputSize(sz);
			d->size = sz;
		}
		cv::Mat faces;
		d->det->detect(img, faces);
		if (faces.empty()) {
			return 0;
		}
		int n = faces.rows;
		for (int i = 0; i < n && i < max; i++) {
			const float* row = faces.ptr<float>(i);
			std::memcpy(out + 15 * i, row, 15 * sizeof(float));
		}
		return n;
	} catch (...) {
		return -1;
	}
}

void cv_set_threads(int n) { cv::setNumThreads(n); }

}
